"""Evaluation tasks for long-lived evaluators (`infer.placement=worker|with_training`): the only
package that knows a task from a job.

`work_queue` is the file protocol between the controller and an evaluator (post, claim by
rename, finish), `tasks` puts the tasks behind the `Scheduler` interface, so that the engine
treats an evaluation handed to an evaluator as it treats a job. Where an evaluation goes is
decided in `decide.placement`.

May import: model, decide.placement, common, config.settings, scheduler.interface.
"""
