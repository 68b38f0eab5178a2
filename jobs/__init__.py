"""The jobs: what runs on the compute nodes, in the users' environment.

`jobs.train` fine-tunes one classifier with the Hugging Face Trainer (the users' recipe,
accelerate for several processes) and leaves plan, complete checkpoints and a done file
where `orchestrator.common.layout` says; `jobs.infer` evaluates one checkpoint on the validation
and test splits in length-sorted batches and writes one JSON result, through
`jobs.evaluator`, which loads and tokenizes the splits once for any number of checkpoints;
`jobs.worker` is the long-lived evaluator (infer.placement=worker or with_training) that
takes checkpoints from a work queue (orchestrator.placement.work_queue) and evaluates each with it.
`jobs.data` reads the users' CSV/JSONL files or a hub dataset, `jobs.synthetic` and
`jobs.tiny_model` make the offline data and model the demo and the tests use.
`jobs.progress` (the progress file and the `step N/M` log lines), `jobs.tensorboard_job`
(`train.report_to` and the trial's TensorBoard run) and `jobs.device_facts` (what a result
ran on) are what the jobs show of themselves. They import torch and transformers; the
controller imports none of them.

May import: orchestrator.common, orchestrator.config.settings, orchestrator.config.compose,
orchestrator.config.task_checks, orchestrator.placement.work_queue,
orchestrator.scheduler.in_job.
(the shared files and rules, the settings `python -m jobs.train` composes and the per-task
defaults it resolves, the queue's file protocol, and a user's script run per task as a job
runs it: never the controller's machinery)
"""
