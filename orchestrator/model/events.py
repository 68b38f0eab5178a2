"""The journal's events: one frozen dataclass per kind, and their on-disk form.

Theory of operation: the kinds below are a closed set (optuna's journal storage keeps its
operations the same way). `build` makes one from a name and fields, refusing a name or a
field it does not know, so a misspelt event never reaches the disk; `decode` reads one line
back and refuses an unknown name or a missing field with the journal's path and line, so a
replay never skips what it cannot read. On disk an event is one JSON object,
{"event": name, "t": wall time, field: value, ...}: enums are written as their values.
A field with a default is one that some journals lack: an older one (the split and metrics
of an evaluation, the state and detail of a job failure) or one the controller leaves out
(a successful training's reason, a failed evaluation's result). `t` is set on append.
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

from orchestrator.errors import JournalCorrupt
from orchestrator.model.transitions import JobKind, JobState, SearchStatus, Training, TrialEnd


@dataclass(frozen=True, kw_only=True)
class Event:
    event: ClassVar[str]  # its name on disk
    t: float = 0.0  # wall time (time.time()) of the append


@dataclass(frozen=True, kw_only=True)
class SearchStarted(Event):
    event = "search_started"
    settings: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class SearchExtended(Event):
    """A rerun with new settings: reopens an ended search (`reopened`)."""

    event = "search_extended"
    settings: dict[str, Any]
    changed: dict[str, list[Any]]  # key -> [before, now]
    reopened: bool = False  # journals before 29 Nov 2026


@dataclass(frozen=True, kw_only=True)
class Resumed(Event):
    event = "resumed"


@dataclass(frozen=True, kw_only=True)
class Heartbeat(Event):
    event = "heartbeat"  # only its time matters: `orchestrator status` reads the last one


@dataclass(frozen=True, kw_only=True)
class TrialStarted(Event):
    event = "trial_started"
    trial: int
    seed: int
    output_dir: str
    params: dict[str, Any]  # sampled train settings
    sampler_trial: int | None  # the sampler's own number for it (optuna)


@dataclass(frozen=True, kw_only=True)
class SubmitIntent(Event):
    event = "submit_intent"
    key: str
    kind: JobKind
    trial: int
    step: int | None
    attempt: int
    folder: str
    name: str  # the scheduler's name for the job
    overrides: dict[str, Any]  # train settings this attempt changed
    # a task posted to this work queue (orchestrator.placement.work_queue), not a job; "": a job
    queue: str = ""


@dataclass(frozen=True, kw_only=True)
class Submitted(Event):
    event = "submitted"
    key: str
    job_id: str | None  # None: abandoned
    abandoned: bool = False
    recovered: bool = False  # found by name after a killed controller's submission


@dataclass(frozen=True, kw_only=True)
class JobStateChanged(Event):
    event = "job_state"
    key: str
    job_id: str
    state: JobState
    reason: str = ""  # why a PENDING job waits, as the scheduler said (journals before 29 Nov)
    runner: str = ""  # a task: the id of the job whose evaluator took it (work_queue)
    held_s: float = 0.0  # an ended task: the seconds its evaluator spent on it (0: not said)
    # RUNNING -> PENDING: the scheduler queued the job again under its id; what ended the run
    # before, e.g. `node n2 was lost (NODE_FAIL)` (journals before 6 Dec 2026 lack it)
    requeued: str = ""


@dataclass(frozen=True, kw_only=True)
class JobFailed(Event):
    event = "job_failed"
    key: str
    cause: str  # input | oom | nan | other
    reason: str
    job_id: str | None = None  # these three: journals before 29 Nov 2026 lack them
    state: JobState | None = None
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class JobReleased(Event):
    """A job held past search.held_grace_s, asked to be released (`scontrol release`)."""

    event = "job_released"
    key: str
    job_id: str
    held_s: float  # how long it had been held, from the first poll that saw it held
    reason: str  # the scheduler's reason for the hold


@dataclass(frozen=True, kw_only=True)
class Cancel(Event):
    event = "cancel"
    keys: list[str]
    job_ids: list[str | None]


@dataclass(frozen=True, kw_only=True)
class Checkpoint(Event):
    """A complete checkpoint, new or (`run` not the one journaled for its step) written
    again by a later run of the training job: a new checkpoint at the same path."""

    event = "checkpoint"
    trial: int
    step: int
    path: str
    run: str = ""  # the training run that wrote it (journals before 6 Dec 2026: "")


@dataclass(frozen=True, kw_only=True)
class Plan(Event):
    """The training's plan.json: journaled once, and again by each later run of the job."""

    event = "plan"
    trial: int
    max_steps: int
    run: str = ""  # the training run that wrote it (journals before 6 Dec 2026: "")


@dataclass(frozen=True, kw_only=True)
class TrainingEnded(Event):
    event = "training_ended"
    trial: int
    outcome: Training
    reason: str = ""  # not written for a success


@dataclass(frozen=True, kw_only=True)
class Evaluation(Event):
    event = "evaluation"
    trial: int
    step: int
    value: float | None  # None: the evaluation failed for good
    job_id: str | None
    checkpoint: str
    result: str = ""  # the result file (not written when the job wrote none)
    error: str = ""
    logs: list[str] = field(default_factory=list)
    split: str = "test"  # the split `value` is from (journals before search.split: test)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # split -> metrics


@dataclass(frozen=True, kw_only=True)
class TrialEnded(Event):
    event = "trial_ended"
    trial: int
    how: TrialEnd
    step: int | None
    reason: str


@dataclass(frozen=True, kw_only=True)
class SearchEnded(Event):
    event = "search_ended"
    status: SearchStatus
    reason: str


@dataclass(frozen=True, kw_only=True)
class Promoted(Event):
    event = "promoted"
    trial: int
    step: int
    checkpoint: str
    value: float
    path: str


@dataclass(frozen=True, kw_only=True)
class PromoteFailed(Event):
    event = "promote_failed"
    reason: str


@dataclass(frozen=True, kw_only=True)
class SchedulerDown(Event):
    """New submissions wait: the scheduler does not answer, or (`limit`) it refuses more of
    our jobs for a limit on queued jobs until some end."""

    event = "scheduler_unavailable"
    reason: str
    limit: bool = False


@dataclass(frozen=True, kw_only=True)
class SchedulerUp(Event):
    event = "scheduler_available"


@dataclass(frozen=True, kw_only=True)
class CheckpointSized(Event):
    """A complete checkpoint's bytes on disk, measured once (the disk figures add these)."""

    event = "checkpoint_sized"
    trial: int
    step: int
    bytes: int


@dataclass(frozen=True, kw_only=True)
class DeleteIntent(Event):
    """Retention (search.keep) is about to delete a checkpoint (`what`: all) or its
    training state (`what`: training_state); a resumed controller finishes it."""

    event = "delete_intent"
    trial: int
    step: int
    path: str
    what: str  # all | training_state
    bytes: int  # what the deletion frees, measured before its first step


@dataclass(frozen=True, kw_only=True)
class Deleted(Event):
    event = "deleted"
    trial: int
    step: int
    path: str
    what: str
    bytes: int


@dataclass(frozen=True, kw_only=True)
class DeleteRefused(Event):
    """A checkpoint retention will not delete: its path leads out of search.dir."""

    event = "delete_refused"
    trial: int
    step: int
    path: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class CancelRequested(Event):
    """`orchestrator cancel` asked for the search's end (the request file's id and author)."""

    event = "cancel_requested"
    request: str
    by: str = ""


@dataclass(frozen=True, kw_only=True)
class Notified(Event):
    """search.notify is about to run for the search's end (journaled first: at most once)."""

    event = "notified"
    argv: list[str]
    status: str


@dataclass(frozen=True, kw_only=True)
class CodeSnapshot(Event):
    """search.snapshot: the jobs run from now on the code copied to `dir`, of sha256 `hash`
    (journals before 6 Dec 2026 have none: their jobs ran the code in place). A first run
    journals it before search_started: the search's first submission needs it."""

    event = "code_snapshot"
    hash: str
    dir: str
    previous: str = ""  # --force-resume took new code: the hash it replaced


KINDS: tuple[type[Event], ...] = (
    SearchStarted, SearchExtended, Resumed, Heartbeat, TrialStarted, SubmitIntent, Submitted,
    JobStateChanged, JobFailed, JobReleased, Cancel, Checkpoint, Plan, TrainingEnded, Evaluation,
    TrialEnded, SearchEnded, Promoted, PromoteFailed, SchedulerDown, SchedulerUp,
    CheckpointSized, DeleteIntent, Deleted, DeleteRefused,
    CancelRequested, Notified, CodeSnapshot,
)
REGISTRY: dict[str, type[Event]] = {kind.event: kind for kind in KINDS}


def _enum_of(hint: Any) -> type[enum.Enum] | None:
    """The enum a field holds (`JobState`, `JobState | None`), or None."""
    for candidate in (hint, *typing.get_args(hint)):
        if isinstance(candidate, type) and issubclass(candidate, enum.Enum):
            return candidate
    return None


_ENUMS: dict[type[Event], dict[str, type[enum.Enum]]] = {
    kind: {f.name: e for f in dataclasses.fields(kind)
           if (e := _enum_of(typing.get_type_hints(kind)[f.name])) is not None}
    for kind in KINDS
}


def _make(kind: type[Event], values: dict[str, Any]) -> Event:
    """The event from its fields by attribute name; enum fields may be given as values."""
    for name, cls in _ENUMS[kind].items():
        if values.get(name) is not None and not isinstance(values[name], cls):
            values[name] = cls(values[name])  # ValueError: not one of its values
    return kind(**values)


def build(name: str, /, **fields: Any) -> Event:
    """The event `name` with these fields (as they are written on disk). Raises ValueError
    on a name or a field that no event has: a bug, which must not reach the journal."""
    kind = REGISTRY.get(name)
    if kind is None:
        raise ValueError(f"no journal event is called {name!r}")
    unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(kind)})
    if unknown:
        raise ValueError(f"journal event {name!r} has no field {', '.join(unknown)}")
    try:
        return _make(kind, dict(fields))
    except TypeError as exc:  # a required field is missing
        raise ValueError(f"journal event {name!r}: {exc}") from exc


def encode(event: Event) -> dict[str, Any]:
    """The on-disk JSON object of an event."""
    record: dict[str, Any] = {"event": event.event}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        record[f.name] = value.value if isinstance(value, enum.Enum) else value
    return record


_NAMES: dict[type[Event], frozenset[str]] = {
    kind: frozenset(f.name for f in dataclasses.fields(kind)) | {"event"} for kind in KINDS}


def decode(obj: dict[str, Any], where: str) -> Event:
    """The event a journal line holds; JournalCorrupt naming `where` (path:line) when its
    name or a field is unknown, a required field is missing, or a value is not allowed."""
    kind = REGISTRY.get(obj.get("event"))  # type: ignore[arg-type]
    if kind is not None and "t" in obj and obj.keys() <= _NAMES[kind]:
        # the common case, once per journal line on every replay: `build`'s checks hold
        # already, so only the ones that can still fail are left (a missing field, a value)
        fields = dict(obj)
        del fields["event"]
        try:
            return _make(kind, fields)
        except (TypeError, ValueError):
            pass  # said below, as `build` says it
    fields = {k: v for k, v in obj.items() if k != "event"}
    try:
        if "t" not in fields:
            raise ValueError(f"journal event {obj.get('event')!r} has no time (t)")
        return build(str(obj.get("event")), **fields)
    except ValueError as exc:
        raise JournalCorrupt(
            f"{where}: {exc}; this journal was written by another version of the orchestrator "
            "or edited: run that version, repair the line, or move the whole search.dir aside "
            "to start afresh"
        ) from exc
