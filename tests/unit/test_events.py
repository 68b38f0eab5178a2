"""The journal's closed set of events: every kind round-trips through its on-disk form, and
an unknown name, field or value is refused: on append before anything is written, on replay
with the journal's path and line."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import JournalCorrupt
from orchestrator.journal.jsonl import Journal, read_events
from orchestrator.model import events
from orchestrator.model.events import (
    KINDS,
    REGISTRY,
    Cancel,
    CancelRequested,
    Checkpoint,
    Evaluation,
    Event,
    Heartbeat,
    JobFailed,
    JobStateChanged,
    Notified,
    Plan,
    Promoted,
    PromoteFailed,
    Resumed,
    SchedulerDown,
    SchedulerUp,
    SearchEnded,
    SearchExtended,
    SearchStarted,
    SubmitIntent,
    Submitted,
    TrainingEnded,
    TrialEnded,
    TrialStarted,
    build,
    decode,
    encode,
)
from orchestrator.model.state import SearchState
from orchestrator.model.transitions import JobKind, JobState, SearchStatus, Training, TrialEnd

SETTINGS = {"search": {"target": 0.8, "metric": "accuracy"}}
EXAMPLES: list[Event] = [
    SearchStarted(t=1.5, settings=SETTINGS),
    SearchExtended(t=2.0, settings=SETTINGS, changed={"search.target": [0.8, 0.9]},
                   reopened=True),
    Resumed(t=3.0),
    Heartbeat(t=4.0),
    TrialStarted(t=5.0, trial=1, seed=42, output_dir="/o/001", params={"learning_rate": 3e-5},
                 sampler_trial=0),
    SubmitIntent(t=6.0, key="train-t001-a0", kind=JobKind.TRAIN, trial=1, step=None, attempt=0,
                 folder="/f", name="x-0123abcd-train-t001-a0", overrides={"grad_accum_steps": 2}),
    Submitted(t=7.0, key="train-t001-a0", job_id="77", recovered=True),
    JobStateChanged(t=8.0, key="train-t001-a0", job_id="77", state=JobState.OUT_OF_MEMORY),
    JobFailed(t=9.0, key="train-t001-a0", job_id="77", state=JobState.OUT_OF_MEMORY,
              cause="oom", detail="CUDA out of memory", reason="train job 77 ended OOM"),
    Cancel(t=10.0, keys=["train-t001-a0"], job_ids=["77"]),
    Checkpoint(t=11.0, trial=1, step=100, path="/o/001/checkpoint-100"),
    Plan(t=12.0, trial=1, max_steps=300),
    TrainingEnded(t=13.0, trial=1, outcome=Training.FAILED, reason="out of memory 3 times"),
    Evaluation(t=14.0, trial=1, step=100, value=0.75, job_id="78", checkpoint="/o/c-100",
               result="/r.json", split="validation",
               metrics={"validation": {"accuracy": 0.75}, "test": {"accuracy": 0.74}}),
    TrialEnded(t=15.0, trial=1, how=TrialEnd.METRIC_FELL, step=200, reason="fell"),
    SearchEnded(t=16.0, status=SearchStatus.EXHAUSTED, reason="no trial left"),
    Promoted(t=17.0, trial=1, step=100, checkpoint="/o/c-100", value=0.75, path="/s/best"),
    PromoteFailed(t=18.0, reason="the best checkpoint is gone"),
    SchedulerDown(t=19.0, reason="connect failure"),
    SchedulerUp(t=20.0),
    CancelRequested(t=21.0, request="abc123", by="pid 1 on login1"),
    Notified(t=22.0, argv=["notify-send", "search cancelled"], status="cancelled"),
]
# retention (search.keep): issue 13
EXAMPLES += [
    events.JobReleased(t=20.5, key="train-t001-a0", job_id="77", held_s=612.0,
                       reason="JobHeldAdmin"),
    events.CheckpointSized(t=21.0, trial=1, step=100, bytes=4096),
    events.DeleteIntent(t=22.0, trial=1, step=100, path="/o/c-100", what="all", bytes=4096),
    events.Deleted(t=23.0, trial=1, step=100, path="/o/c-100", what="all", bytes=4096),
    events.DeleteRefused(t=24.0, trial=1, step=200, path="/o/c-200", reason="a symlink"),
    events.CodeSnapshot(t=25.0, hash="ab" * 32, dir="/s/snapshot/abababababab",
                        previous="cd" * 32),
]


def test_every_kind_has_an_example_and_a_unique_name() -> None:
    assert sorted(type(e).__name__ for e in EXAMPLES) == sorted(k.__name__ for k in KINDS)
    assert len(REGISTRY) == len(KINDS)


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.event)
def test_every_kind_round_trips_through_its_json_line(event: Event) -> None:
    obj = json.loads(json.dumps(encode(event), sort_keys=True))
    assert obj["event"] == event.event and obj["t"] == event.t
    assert set(obj) == {"event", *(f.name for f in dataclasses.fields(event))}
    assert decode(obj, "journal.jsonl:1") == event
    assert build(obj.pop("event"), **obj) == event


def test_enums_are_written_as_their_values() -> None:
    line = json.dumps(encode(TrialEnded(t=1.0, trial=2, how=TrialEnd.STOPPED, step=None,
                                        reason="")), sort_keys=True)
    assert line == ('{"event": "trial_ended", "how": "stopped", "reason": "", "step": null, '
                    '"t": 1.0, "trial": 2}')
    assert encode(JobStateChanged(t=1.0, key="k", job_id="7", state=JobState.RUNNING))[
        "state"] == "RUNNING"


@pytest.mark.parametrize(("obj", "default"), [
    # an evaluation journaled before search.split and both splits' metrics
    ({"event": "evaluation", "t": 1.0, "trial": 1, "step": 100, "value": 0.7, "job_id": "8",
      "checkpoint": "/c", "result": "/r"}, {"split": "test", "metrics": {}, "error": ""}),
    # a job failure journaled before its state, id and the job's own words
    ({"event": "job_failed", "t": 1.0, "key": "train-t001-a0", "cause": "other",
      "reason": "boom"}, {"job_id": None, "state": None, "detail": ""}),
    ({"event": "search_extended", "t": 1.0, "settings": {}, "changed": {}}, {"reopened": False}),
    ({"event": "training_ended", "t": 1.0, "trial": 1, "outcome": "succeeded"},
     {"reason": "", "outcome": Training.SUCCEEDED}),
])
def test_fields_that_journals_may_lack_keep_their_defaults(obj: dict[str, Any],
                                                           default: dict[str, Any]) -> None:
    event = decode(obj, "journal.jsonl:1")
    assert {k: getattr(event, k) for k in default} == default


def _journal(tmp_path: Path, *lines: dict[str, Any]) -> Path:
    path = tmp_path / "journal.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


START = {"event": "search_started", "t": 1.0, "settings": SETTINGS}


@pytest.mark.parametrize(("bad", "says"), [
    ({"event": "chekpoint", "t": 2.0, "trial": 1, "step": 100, "path": "/c"},
     "no journal event is called 'chekpoint'"),
    ({"event": "checkpoint", "t": 2.0, "trial": 1, "path": "/c"}, "missing 1 required"),
    ({"event": "checkpoint", "t": 2.0, "trial": 1, "step": 1, "path": "/c", "sha": "x"},
     "has no field sha"),
    ({"event": "checkpoint", "trial": 1, "step": 1, "path": "/c"}, "has no time"),
    ({"event": "job_state", "t": 2.0, "key": "k", "job_id": "7", "state": "RUNNIN"},
     "'RUNNIN' is not a valid JobState"),
])
@pytest.mark.parametrize("last", [False, True])
def test_replay_refuses_an_event_it_does_not_know_naming_the_line(
        tmp_path: Path, bad: dict[str, Any], says: str, last: bool) -> None:
    """Never skipped, on the last line too: a line that parses is whole, not torn."""
    lines = [START, bad] + ([] if last else [{"event": "resumed", "t": 3.0}])
    path = _journal(tmp_path, *lines)
    for read in (read_events, Journal):
        with pytest.raises(JournalCorrupt) as caught:
            read(path)
        message = str(caught.value)
        assert message.startswith(f"{path}:2: ") and says in message
        assert "move the whole search.dir aside" in message and "\n" not in message


@pytest.mark.parametrize(("name", "fields", "says"), [
    ("chekpoint", {"trial": 1, "step": 1, "path": "/c"}, "no journal event is called"),
    ("checkpoint", {"trial": 1, "stpe": 1, "path": "/c"}, "has no field stpe"),
    ("checkpoint", {"trial": 1, "path": "/c"}, "missing 1 required"),
    ("trial_ended", {"trial": 1, "how": "finished", "step": None, "reason": ""},
     "'finished' is not a valid TrialEnd"),
])
def test_a_misspelt_event_is_refused_before_anything_is_written(
        tmp_path: Path, name: str, fields: dict[str, Any], says: str) -> None:
    path = _journal(tmp_path, START)
    before = path.read_bytes()
    journal = Journal(path)
    try:
        with pytest.raises(ValueError, match=says):
            journal.append(name, **fields)
        assert len(journal.events) == 1
    finally:
        journal.close()
    assert path.read_bytes() == before


def test_append_takes_a_typed_event_and_stamps_its_time(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    try:
        written = journal.append(Checkpoint(trial=1, step=100, path="/c"))
    finally:
        journal.close()
    assert written.t > 1e9 and written == Checkpoint(t=written.t, trial=1, step=100, path="/c")
    assert read_events(tmp_path / "journal.jsonl")[0] == [written]


def test_the_fold_has_a_handler_for_every_kind_and_refuses_any_other() -> None:
    state = SearchState()
    for event in EXAMPLES:  # in journal order: each one's trial and job exist by then
        state.apply(event)
    trial, job = state.trials[1], state.jobs["train-t001-a0"]
    assert (state.extensions, state.resumes, state.status) == (1, 1, SearchStatus.EXHAUSTED)
    assert state.promoted is EXAMPLES[16] and state.promote_error.startswith("the best")
    assert (trial.training, trial.ended, trial.ended_step, trial.max_steps) == (
        Training.FAILED, TrialEnd.METRIC_FELL, 200, 300)
    assert (job.job_id, job.state, job.cause, job.cancel_requested) == (
        "77", JobState.OUT_OF_MEMORY, "oom", True)
    assert state.results(1) == {100: 0.75} and trial.checkpoints == {100: "/o/001/checkpoint-100"}

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Note(Event):
        event = "note"

    with pytest.raises(TypeError, match="no handler for the event 'note'"):
        state.apply(Note(t=1.0))
