"""Configuration: compose `conf/` with Hydra, check it whole, and hand typed `Settings` below.

`compose` runs Hydra (and only it sees OmegaConf), `overrides` makes a user's bash-typed
overrides fit Hydra's grammar, `shape` checks the raw mapping's keys and types, `validate`
turns it into `settings` (frozen dataclasses, one comment per field) and collects every problem
at once, with the checks of `task_checks`, `lora_checks`, `preflight` (data files, model,
recipe) and `target_scan` (a regression's targets). `admission` asks the scheduler whether it
would accept the search's jobs (`sbatch --test-only`) before anything is submitted.

May import: common, decide, scheduler, engine.job_requests, engine.notify.
(validate checks the job requests and the notify command as they will be built and run.)
"""
