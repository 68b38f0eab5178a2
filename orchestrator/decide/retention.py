"""Which checkpoints to delete now: a pure function of the search's state (search.keep).

Theory of operation. Per trial, a checkpoint is kept while any of these holds:
- it is not evaluated yet (while its trial is active: an ended trial's checkpoints are
  never evaluated any more), or an inference job on it may still run (an evaluation in
  flight is never deleted under, even once its result is read);
- it is among the trial's best `keep` evaluations by the deciding metric (usable values
  only; ties go to the earlier step, as `stop_rule.best_of` breaks them), or it is the
  search's best, which `best/` is copied from at the finish;
- it is the trial's latest and the trial's training may still resume from it (the trial
  is active and its training running: a retry resumes from the latest complete checkpoint;
  a pruned, stopped or ended trial never trains again).
Everything else is deleted whole. With `keep_optimizer=latest`, a kept checkpoint that is
kept only for its metric loses its training state (optimizer, scheduler, RNG). The
deletions are carried out, journaled and resumed by `orchestrator.engine.deletion`. Checkpoints
retention already deletes, or that it refused (a path leading out of search.dir), are
left alone; `keep=all` deletes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from orchestrator.config.settings import SearchSettings, Settings
from orchestrator.decide.stop_rule import Mode, Rule, best_of
from orchestrator.model.ledger import ALL, TRAINING_STATE
from orchestrator.model.state import SearchState, TrialRecord
from orchestrator.model.transitions import JobKind, Training


@dataclass(frozen=True, order=True)
class Removal:
    trial: int
    step: int
    path: str
    what: str  # disk.ALL | disk.TRAINING_STATE


def keep_count(search: SearchSettings) -> int | None:
    """How many of a trial's best checkpoints search.keep keeps; None: all of them."""
    return None if str(search.keep) == "all" else int(search.keep)


def best_steps(rule: Rule, results: dict[int, float | None], k: int) -> set[int]:
    """The steps of the `k` best usable results; ties to the earlier step."""
    usable = [(s, v) for s, v in results.items() if v is not None and not math.isnan(v)]
    sign = -1.0 if rule.mode is Mode.MAX else 1.0
    return {s for s, _ in sorted(usable, key=lambda sv: (sign * sv[1], sv[0]))[:k]}


def may_resume(trial: TrialRecord) -> bool:
    """Could training of this trial still (re)start from its latest checkpoint?"""
    return trial.ended is None and trial.training == Training.RUNNING


def in_flight(state: SearchState, trial: TrialRecord, step: int) -> bool:
    """Is the checkpoint still to be evaluated, or is a job on it (maybe) still running?
    An ended trial's checkpoints are never evaluated any more (not even by a rerun that
    reopens the search), so once no job is on them they are not waiting for anything."""
    if (trial.trial, step) not in state.evaluations and trial.ended is None:
        return True  # the cheap test first: most checkpoints of a live search wait here
    return any(not job.abandoned and (job.job_id is None or job.live)
               for job in state.attempts(JobKind.INFER, trial.trial, step))


def removals(state: SearchState, search: SearchSettings, rule: Rule) -> list[Removal]:
    """The deletions retention wants now, in trial and step order (none with keep=all)."""
    k = keep_count(search)
    if k is None:
        return []
    search_best = best_of(rule, state.all_results())
    wanted: list[Removal] = []
    for trial in state.trials.values():
        wanted += _trial_removals(state, trial, rule, k, search_best, search.keep_optimizer)
    return sorted(wanted)


def _trial_removals(state: SearchState, trial: TrialRecord, rule: Rule, k: int,
                    search_best: tuple[int, int] | None, keep_optimizer: str) -> list[Removal]:
    disk = state.disk
    best = best_steps(rule, state.results(trial.trial), k)
    if search_best is not None and search_best[0] == trial.trial:
        best.add(search_best[1])
    latest = max(trial.checkpoints, default=None) if may_resume(trial) else None
    found: list[Removal] = []
    for step, path in sorted(trial.checkpoints.items()):
        key = (trial.trial, step)
        if key in disk.refused or disk.gone(key) or in_flight(state, trial, step):
            continue
        if step == latest:
            continue
        if step not in best:
            found.append(Removal(trial.trial, step, path, ALL))
        elif keep_optimizer == "latest" and not disk.slim(key):
            found.append(Removal(trial.trial, step, path, TRAINING_STATE))
    return found


def pending(state: SearchState) -> list[Removal]:
    """Deletions journaled as intended and not yet journaled as done (a kill between)."""
    return sorted(Removal(e.trial, e.step, e.path, e.what) for e in state.disk.pending.values())


def problems(s: Settings) -> list[str]:
    """search.keep, search.keep_optimizer, and the Trainer's own retention, which would race
    the controller's (it deletes by age, maybe before a checkpoint is evaluated)."""
    keep = s.search.keep
    p: list[str] = []
    if keep != "all" and not (isinstance(keep, int) and keep >= 1):
        p.append(f"search.keep={keep}: must be a number >= 1 (the best checkpoints kept per "
                 "trial) or all")
    p += _one_of_keep_optimizer(s.search.keep_optimizer)
    limit = s.train.save_total_limit
    if limit is not None or "save_total_limit" in s.search.space:
        shown = limit if limit is not None else "(in search.space)"
        p.append(f"train.save_total_limit={shown}: the Trainer would delete checkpoints "
                 "before they are evaluated; drop it and set search.keep=N (the controller "
                 "keeps the N best by search.metric, the latest, and those not yet evaluated)")
    return p


def _one_of_keep_optimizer(value: str) -> list[str]:
    return [] if value in ("latest", "all") else [
        f"search.keep_optimizer={value}: must be one of latest, all"]
