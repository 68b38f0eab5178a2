"""A controller tracking N real SLURM jobs, for the query-rate and memory measurements.

Theory of operation. N real jobs are submitted on hold (`sbatch --hold`, a one-hour sleep):
they are genuine scheduler records that sacct reports (PENDING) on every poll, yet they take
no CPU of the shared 8-slot node. A journal is then written, through the project's own
`Journal`, as if a controller had submitted them: `search_started` with the settings that the
CLI composes from the same overrides, one trial, and for each job a `submit_intent` +
`submitted` pair (one training job, N-1 inference jobs of N-1 checkpoints). A controller
started on that search.dir resumes and tracks exactly those N jobs; with the built-in jobs and
max_concurrent_evals below N it never submits anything, and with training "running" it never
decides, so it just keeps polling - the steady state of a long search.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

from bench.cluster.slurmtools import SlurmError, submitted_id


def submit_held(count: int, name: str, workers: int = 4) -> list[str]:
    """`count` held one-hour sleep jobs named `name`; their ids in submission order."""

    def one(_: int) -> str:
        proc = subprocess.run(
            ["sbatch", "--hold", f"--job-name={name}", "--output=/dev/null", "--time=120",
             "--cpus-per-task=1", "--wrap", "sleep 3600"],
            capture_output=True, text=True, timeout=120, check=False,
        )
        if proc.returncode != 0:
            raise SlurmError(f"sbatch --hold failed: {proc.stderr.strip()[:300]}")
        return submitted_id(proc.stdout)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, range(count)))


def write_tracking_journal(overrides: Sequence[str], job_ids: Sequence[str]) -> Path:
    """A journal in the overrides' search.dir whose controller tracks `job_ids`."""
    from orchestrator.common import layout
    from orchestrator.config import compose as config
    from orchestrator.engine import job_requests
    from orchestrator.journal.jsonl import Journal

    settings = config.to_settings(config.compose(list(overrides)))
    search_dir = Path(settings.search.dir)
    search_dir.mkdir(parents=True, exist_ok=True)
    journal = Journal(search_dir / "journal.jsonl")
    try:
        if journal.facts.events:
            raise SlurmError(f"{search_dir} already holds a journal")
        journal.append("search_started", settings=asdict(settings))
        trial_dir = layout.trial_dir(search_dir, 1)
        journal.append("trial_started", trial=1, seed=settings.train.seed,
                       output_dir=str(trial_dir), params={}, sampler_trial=None)
        save = settings.train.save_steps
        for index, job_id in enumerate(job_ids):
            if index == 0:
                request = job_requests.train_request(settings, search_dir, 1,
                                                     settings.train.seed, 0)
                step = None
            else:
                step = index * save
                checkpoint = str(layout.checkpoint_dir(trial_dir, step))
                journal.append("checkpoint", trial=1, step=step, path=checkpoint)
                request = job_requests.infer_request(settings, search_dir, 1, step, checkpoint,
                                                     0)
            # no name: the held jobs have their own, which a named job would read as an id
            # SLURM gave to another job (LOST, then retried)
            journal.append("submit_intent", key=request.key, kind=request.kind, trial=1,
                           step=step, attempt=0, folder=str(request.folder),
                           name="", overrides={})
            journal.append("submitted", key=request.key, job_id=job_id)
    finally:
        journal.close()
    return search_dir


def tracking_overrides(search_dir: Path) -> list[str]:
    """The tracking controller's settings; search.held_grace_s=0: the bench's jobs are held
    on purpose, so the controller must neither release nor replace them."""
    return ["executor=slurm", "data=synthetic", "model=tiny", "search.target=0.8",
            f"search.dir={search_dir}", "search.held_grace_s=0"]
