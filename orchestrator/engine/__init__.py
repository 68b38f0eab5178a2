"""The controller at work: the observe, decide, act loop and what it drives.

`controller` ticks (observe, decide, act), `observe` turns what the scheduler and the files say
into journaled facts, `submissions` submits so that no job is lost or doubled, `job_requests`
builds what is submitted, `deletion` carries out retention, `cancel_request` is the protocol of
`orchestrator cancel`, `promotion` copies the best checkpoint at the finish, `detach` runs the
controller as a SLURM job, `notify` runs the user's command at the end, `cadence` sets how
often the scheduler is asked, `results` reads a metric out of what an inference job left,
`folder_checks` refuses a search folder that is not this search's, and `run` wires
`orchestrator run`'s (and `cancel`'s) settings to all of it.

May import: common, config, model, journal, decide, placement, scheduler, reporting.
"""
