"""The fold's indexes (issue 25) equal the scans they replace, after every event of a replay:
`live_jobs` (kept as jobs are submitted and change state), `last_attempt`, `failed_work`
(what the policy's retries and give-ups read), `untrained`, `unevaluated` (what the tick
reads results of and evaluates) and `unsized` (what retention measures); and `memo` answers
again only once an event was applied."""

from __future__ import annotations

import random

import pytest

from orchestrator.model.events import (
    Checkpoint,
    CheckpointSized,
    Deleted,
    DeleteIntent,
    DeleteRefused,
    Evaluation,
    Event,
    JobStateChanged,
    SubmitIntent,
    Submitted,
    TrialStarted,
)
from orchestrator.model.state import JobRecord, SearchState
from orchestrator.model.transitions import FAILURES, JobKind, JobState

STATES = [JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED,
          JobState.CANCELLED, JobState.NODE_FAIL, JobState.PREEMPTED]


def journal(seed: int, jobs: int = 60) -> list[Event]:
    """Trials with training and inference attempts submitted out of intent order, moving
    through states at random (ends undone by a requeue included), checkpoints rewritten."""
    rng, disk_rng = random.Random(seed), random.Random(-seed)
    out: list[Event] = [TrialStarted(trial=t, seed=t, output_dir=f"/s/t{t}", params={},
                                     sampler_trial=None) for t in (1, 2, 3)]
    intended: list[str] = []
    for n in range(jobs):
        trial, step = rng.choice((1, 2, 3)), rng.choice((None, 100, 200))
        kind = JobKind.TRAIN if step is None else JobKind.INFER
        if step is not None and rng.random() < 0.3:
            out.append(Checkpoint(trial=trial, step=step, path=f"/s/t{trial}/{step}",
                                  run=f"r{n}"))
        key = f"{kind.value}-{trial}-{step}-{n}"
        out.append(SubmitIntent(key=key, kind=kind, trial=trial, step=step, attempt=n,
                                folder="f", name=key, overrides={}))
        intended.append(key)
        rng.shuffle(intended)
        if rng.random() < 0.7:
            out.append(Submitted(key=intended.pop(), job_id=str(n)))
        out += disk_and_results(disk_rng, trial, step or 100)
    return out


def disk_and_results(rng: random.Random, trial: int, step: int) -> list[Event]:
    """Now and then a result, a size, a deletion begun or done, or a refusal, of a
    checkpoint that may exist, may be rewritten later, or may never be written."""
    path, roll = f"/s/t{trial}/{step}", rng.random()
    if roll < 0.15:
        return [Evaluation(trial=trial, step=step, value=rng.random(), job_id=None,
                           checkpoint=path)]
    if roll < 0.3:
        return [CheckpointSized(trial=trial, step=step, bytes=rng.randint(1, 9))]
    what = rng.choice(("all", "training_state"))
    if roll < 0.4:
        return [DeleteIntent(trial=trial, step=step, path=path, what=what, bytes=1)]
    if roll < 0.45:
        return [Deleted(trial=trial, step=step, path=path, what=what, bytes=1)]
    if roll < 0.5:
        return [DeleteRefused(trial=trial, step=step, path=path, reason="r")]
    return []


def moves(state: SearchState, rng: random.Random) -> list[Event]:
    submitted = [j for j in state.jobs.values() if j.job_id is not None]
    return [JobStateChanged(key=j.key, job_id=str(j.job_id), state=rng.choice(STATES))
            for j in rng.sample(submitted, min(3, len(submitted)))]


def scanned(state: SearchState) -> list[JobRecord]:
    return [job for job in state.jobs.values() if job.live]


@pytest.mark.parametrize("seed", range(6))
def test_the_indexes_equal_a_scan_after_every_event(seed: int) -> None:
    rng = random.Random(seed)
    state = SearchState()
    for event in journal(seed):
        state.apply(event)
        for move in moves(state, rng):
            state.apply(move)
        assert state.live_jobs() == scanned(state)
        failed = set()
        for kind, trial, step in state._by_work:
            attempts = state.attempts(kind, trial, step)
            assert state.last_attempt(kind, trial, step) == (attempts[-1] if attempts else None)
            if attempts and attempts[-1].state in FAILURES:
                failed.add((kind, trial, step))
        assert state.failed_work() == failed
        assert state.untrained() == {t for t in state.trials
                                     if not state.attempts(JobKind.TRAIN, t)}
        for number, record in state.trials.items():
            assert state.unevaluated(number) == sorted(
                s for s in record.checkpoints if (number, s) not in state.evaluations)
        assert state.unsized() == sorted(
            (n, s) for n, t in state.trials.items() for s in t.checkpoints
            if (n, s) not in state.disk.sizes and not state.disk.gone((n, s)))


def test_a_replay_rebuilds_the_indexes() -> None:
    rng, state, written = random.Random(7), SearchState(), list[Event]()
    for event in journal(7):
        for applied in [event, *moves(state, rng)]:
            state.apply(applied)
            written.append(applied)
    replayed = SearchState.replay(written)
    assert [j.key for j in replayed.live_jobs()] == [j.key for j in scanned(state)]
    assert replayed.live_jobs()  # the table exercises live jobs at all
    assert replayed.failed_work() == state.failed_work() and replayed.failed_work()


def test_a_replay_rebuilds_unevaluated_and_unsized() -> None:
    events = journal(11, jobs=120)
    state = SearchState.replay(events)
    assert any(state.unevaluated(t) for t in state.trials) and state.unsized()
    assert any(t.rewrites for t in state.trials.values())  # the table rewrites checkpoints
    again = SearchState.replay(events)
    assert [again.unevaluated(t) for t in again.trials] == [
        state.unevaluated(t) for t in state.trials]
    assert again.unsized() == state.unsized()


def test_memo_answers_again_only_after_an_event() -> None:
    state, calls = SearchState(), list[int]()

    def count() -> int:
        calls.append(state.version)
        return len(state.trials)

    assert state.memo("n", count) == 0 and state.memo("n", count) == 0
    state.apply(TrialStarted(trial=1, seed=1, output_dir="/s/t1", params={},
                             sampler_trial=None))
    assert state.memo("n", count) == 1 and state.memo("n", count) == 1
    assert calls == [0, 1]


def test_a_trial_started_again_leaves_no_index_of_its_old_checkpoints() -> None:
    """Only an edited journal starts a trial twice; its new record has no checkpoints, so
    the indexes must not name the old ones (the tick would look them up and fail)."""
    state = SearchState()
    started = TrialStarted(trial=1, seed=1, output_dir="/s/t1", params={}, sampler_trial=None)
    for event in (started, Checkpoint(trial=1, step=100, path="/s/t1/100", run="r")):
        state.apply(event)
    assert state.unevaluated(1) == [100] and state.unsized() == [(1, 100)]
    state.apply(started)
    assert state.unevaluated(1) == [] and state.unsized() == []
