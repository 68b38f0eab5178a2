"""A long journal: what `status`, `watch`, `report` and a resume cost at a million events.

Theory of operation: `write_journal` writes a search's journal with the controller's real
event shapes (`events.build`/`encode`, the settings of the README's demo): `trials` trials,
each trained with checkpoints every 100 steps, every checkpoint sized and evaluated by its own
job, and the rest of `total` events the heartbeats and resumes of a month-long search. The
search is left running (no search_ended: a controller may resume it) and its controller
gone. `measure` times each reader in a fresh interpreter (`python -m orchestrator ...`, as
a user runs it) and a resume as the controller does it (`engine.run`: the journal opened,
checked, folded), and the peak resident memory of each from the child's rusage.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from orchestrator.model.events import Event, build, encode

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = Path(__file__).with_name("demo_settings.json")  # the README demo's search_started
EVENTS = 1_000_000
REPORT_TRIALS = 1000
T0 = 1_790_000_000.0


def _trial(search_dir: Path, trial: int, steps: int, t: float) -> Iterator[Event]:
    """One trial's events, as a controller journals them for a training that succeeded."""
    out = search_dir / "trials" / f"{trial:03d}"
    key = f"train-t{trial:03d}-a0"
    yield build("trial_started", trial=trial, seed=41 + trial, output_dir=str(out),
                params={"lr": 1e-4 * trial}, sampler_trial=None, t=t)
    yield build("submit_intent", key=key, kind="train", trial=trial, step=None, attempt=0,
                folder=str(search_dir / "jobs" / key), name=f"demo-{key}", overrides={}, t=t)
    yield build("submitted", key=key, job_id=str(10_000 + trial), t=t)
    yield build("job_state", key=key, job_id=str(10_000 + trial), state="RUNNING", t=t + 1)
    yield build("plan", trial=trial, max_steps=steps, run="r1", t=t + 2)
    for step in range(100, steps + 1, 100):
        yield from _checkpoint(search_dir, trial, step, t + step)
    yield build("job_state", key=key, job_id=str(10_000 + trial), state="SUCCEEDED",
                t=t + steps + 60)
    yield build("training_ended", trial=trial, outcome="succeeded", t=t + steps + 60)
    yield build("trial_ended", trial=trial, how="complete", step=steps, reason="done",
                t=t + steps + 61)


def _checkpoint(search_dir: Path, trial: int, step: int, t: float) -> Iterator[Event]:
    path = str(search_dir / "trials" / f"{trial:03d}" / f"checkpoint-{step}")
    key = f"infer-t{trial:03d}-s{step:08d}-a0"
    job = f"{trial}{step:06d}"
    yield build("checkpoint", trial=trial, step=step, path=path, run="r1", t=t)
    yield build("submit_intent", key=key, kind="infer", trial=trial, step=step, attempt=0,
                folder=str(search_dir / "jobs" / key), name=f"demo-{key}", overrides={}, t=t)
    yield build("submitted", key=key, job_id=job, t=t)
    yield build("checkpoint_sized", trial=trial, step=step, bytes=5_768_517, t=t)
    yield build("job_state", key=key, job_id=job, state="RUNNING", t=t + 1)
    yield build("job_state", key=key, job_id=job, state="SUCCEEDED", t=t + 20)
    value = round(0.3 + 0.4 * step / (step + 300) + 0.0001 * (trial % 97), 4)
    yield build("evaluation", trial=trial, step=step, value=value, job_id=job, checkpoint=path,
                result=f"{path}.result.json", metrics={"test": {"accuracy": value}}, t=t + 20)


def events(search_dir: Path, total: int, trials: int, steps: int = 500) -> Iterator[Event]:
    """`total` events (at least the trials'): the search's work, then heartbeats a minute
    apart with a resume every 10,000 of them."""
    settings = json.loads(SETTINGS.read_text())
    settings["search"]["dir"] = str(search_dir)
    yield build("search_started", settings=settings, t=T0)
    written = 1
    for trial in range(1, trials + 1):
        for event in _trial(search_dir, trial, steps, T0 + trial * 1000):
            yield event
            written += 1
    t = T0 + (trials + 1) * 1000
    for n in range(total - written):
        yield build("resumed" if n % 10_000 == 9_999 else "heartbeat", t=t + 60 * n)


def write_journal(search_dir: Path, total: int = EVENTS, trials: int = 10,
                  tail: int | None = None) -> Path:
    """The search folder with its journal of `total` events; the journal's path. With
    `tail`, the state snapshot its controller left (journal.state_snapshot) covers all but
    the last `tail` events, as one does that wrote a snapshot every SNAPSHOT_EVERY events."""
    search_dir.mkdir(parents=True, exist_ok=True)
    path = search_dir / "journal.jsonl"
    stream = events(search_dir, total, trials)
    with open(path, "w", encoding="utf-8") as handle:
        for n, event in enumerate(stream, start=1):
            handle.write(json.dumps(encode(event), sort_keys=True, separators=(",", ":"))
                         + "\n")
            if tail is not None and n == total - tail:
                break
    if tail is not None:
        _snapshot(path)
        with open(path, "a", encoding="utf-8") as handle:
            for event in stream:
                handle.write(json.dumps(encode(event), sort_keys=True, separators=(",", ":"))
                             + "\n")
    return path


def _snapshot(path: Path) -> None:
    """The snapshot a controller writes of its journal as it stands."""
    from orchestrator.journal.jsonl import Journal
    from orchestrator.journal.state_snapshot import write_journaled
    from orchestrator.model.state import SearchState

    journal = Journal(path)
    try:
        write_journaled(journal, SearchState.replay(journal.events))
    finally:
        journal.close()


def _probe(what: str, search_dir: Path) -> None:
    """Run one reader as a user's command would, in this (fresh) interpreter."""
    if what == "status":
        from orchestrator.cli.cmd_status import status
        status(search_dir)
    elif what == "ls":
        from orchestrator.cli.cmd_ls import listing
        listing(search_dir.parent)
    elif what == "report":
        from orchestrator.cli.cmd_report import report
        report(search_dir)
    elif what == "watch":
        _first_frame(search_dir)
    else:
        _resume(search_dir)


def _resume(search_dir: Path) -> None:
    """What a rerun does before its controller's first tick: open the journal, check it is
    the same search, and fold it into the controller's state."""
    from orchestrator.common.layout import journal_path
    from orchestrator.config.validate import settings_from
    from orchestrator.engine.controller import Controller
    from orchestrator.engine.folder_checks import check_same_search
    from orchestrator.journal.jsonl import Journal
    from orchestrator.scheduler import make_scheduler

    with open(journal_path(search_dir), encoding="utf-8") as handle:  # a rerun composes them
        settings = settings_from(json.loads(handle.readline())["settings"])
    try:
        from orchestrator.journal.state_snapshot import open_journal
    except ImportError:  # before the controller resumed from the snapshot
        journal = Journal(journal_path(search_dir))
        check_same_search(journal, settings, False)
        Controller(settings, journal, make_scheduler(settings.executor.name), view=None)  # type: ignore[arg-type]
    else:
        journal, state = open_journal(search_dir)
        check_same_search(state, settings, False)
        Controller(settings, journal, make_scheduler(settings.executor.name), view=None,  # type: ignore[arg-type]
                   state=state)
    journal.close()


class _FirstFrame(Exception):
    """Raised by the view on its first frame: watch's first frame is what is timed."""


def _first_frame(search_dir: Path) -> None:
    from orchestrator.cli.cmd_watch import watch

    class View:
        def event(self, record: object, state: object) -> None:
            pass

        def refresh(self, state: object) -> None:
            raise _FirstFrame

    try:
        watch(search_dir, View(), alive=lambda _d, _t: True)
    except _FirstFrame:
        return


def probe(what: str, search_dir: Path) -> tuple[float, float]:
    """Seconds (after the imports) and peak resident MB of one reader in a fresh
    interpreter, as a user's command runs."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    done = subprocess.run([sys.executable, "-m", "bench.phases.long_journal", what,
                           str(search_dir)], check=True, env=env, cwd=ROOT,
                          capture_output=True, text=True)
    seconds, rss_mb = json.loads(done.stdout.strip().splitlines()[-1])
    return float(seconds), float(rss_mb)


def measure(tmp: Path) -> dict[str, float]:
    """The keys of bench phase `scale` for a long journal: seconds, and the readers' peak
    resident MB."""
    from orchestrator.journal.state_snapshot import SNAPSHOT_EVERY

    long_dir, wide_dir = tmp / "long" / "search", tmp / "wide" / "search"
    write_journal(long_dir, EVENTS, trials=10, tail=SNAPSHOT_EVERY - 1)
    write_journal(wide_dir, REPORT_TRIALS * 40, trials=REPORT_TRIALS, tail=SNAPSHOT_EVERY - 1)
    keys: dict[str, float] = {}
    for what, key in (("resume", "resume_s_1m_events"), ("status", "status_s_1m_events"),
                      ("watch", "watch_first_frame_s_1m_events"), ("ls", "ls_s_1m_events")):
        keys[key], keys[f"{what}_rss_mb_1m_events"] = probe(what, long_dir)
    keys["report_html_s_1000_trials"], keys["report_rss_mb_1000_trials"] = probe(
        "report", wide_dir)
    return keys


if __name__ == "__main__":
    import importlib

    importlib.import_module("orchestrator.cli.main")  # the imports are not the reader's cost
    started = time.perf_counter()
    _probe(sys.argv[1], Path(sys.argv[2]))
    elapsed = time.perf_counter() - started
    # VmHWM, not getrusage's ru_maxrss: on Linux that one carries the parent's high-water
    # mark across fork and exec (163 MB for every reader after the parent wrote 1M events)
    hwm_kb = next(int(line.split()[1]) for line in
                  Path("/proc/self/status").read_text().splitlines()
                  if line.startswith("VmHWM:"))
    peak_mb = hwm_kb / 1024.0
    print(json.dumps([round(elapsed, 3), round(peak_mb, 1)]))
