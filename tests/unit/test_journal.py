from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.common import layout
from orchestrator.errors import JournalCorrupt, SearchLocked
from orchestrator.journal.jsonl import Journal, read_events
from orchestrator.journal.lock import SearchLock, busy_message
from orchestrator.model.events import Checkpoint
from orchestrator.model.state import SearchState


def _journal_with(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    for i in range(n):
        journal.append("checkpoint", trial=1, step=i, path=f"/x/checkpoint-{i}")
    journal.close()
    return path


def test_append_and_replay(tmp_path: Path) -> None:
    path = _journal_with(tmp_path, 3)
    events, valid = read_events(path)
    assert [e.step for e in events if isinstance(e, Checkpoint)] == [0, 1, 2]
    assert valid == path.stat().st_size


@pytest.mark.parametrize("tail", [b'{"event":"checkpoint","trial":', b'{"ev', b"\x00\x00",
                                  b'{"a":1}'])
def test_torn_last_line_is_dropped_then_cut_before_the_next_append(tmp_path: Path,
                                                                    tail: bytes) -> None:
    path = _journal_with(tmp_path, 2)
    with open(path, "ab") as handle:
        handle.write(tail)
    events, _ = read_events(path)
    assert [e.step for e in events if isinstance(e, Checkpoint)] == [0, 1]
    journal = Journal(path)
    assert len(journal.events) == 2
    journal.append("checkpoint", trial=1, step=2, path="/x/checkpoint-2")
    journal.close()
    lines = path.read_bytes().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [0, 1, 2]


def test_complete_last_event_without_newline_is_kept(tmp_path: Path) -> None:
    path = _journal_with(tmp_path, 1)
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    journal = Journal(path)
    journal.append("checkpoint", trial=1, step=1, path="/x/checkpoint-1")
    journal.close()
    assert [e.step for e in read_events(path)[0] if isinstance(e, Checkpoint)] == [0, 1]


def test_corruption_in_the_middle_is_reported_with_the_line(tmp_path: Path) -> None:
    path = _journal_with(tmp_path, 3)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b"garbage\n" + lines[2])
    with pytest.raises(JournalCorrupt, match=r"journal.jsonl:2 "):
        read_events(path)


def test_replay_rebuilds_the_state(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    journal.append("search_started", settings={"search": {}})
    journal.append("trial_started", trial=1, seed=42, output_dir="/x", params={},
                   sampler_trial=None)
    journal.append("submit_intent", key="train-t001-a0", kind="train", trial=1, step=None,
                   attempt=0, folder="/f", name="x-0123abcd-train-t001-a0", overrides={})
    journal.append("submitted", key="train-t001-a0", job_id="7")
    journal.append("job_state", key="train-t001-a0", job_id="7", state="RUNNING")
    journal.append("checkpoint", trial=1, step=100, path="/x/checkpoint-100")
    journal.append("evaluation", trial=1, step=100, value=0.7, job_id="8",
                   checkpoint="/x/checkpoint-100")
    journal.close()
    state = SearchState.replay(read_events(path)[0])
    assert state.trials[1].checkpoints == {100: "/x/checkpoint-100"}
    assert state.jobs["train-t001-a0"].live
    assert state.results(1) == {100: 0.7}


@pytest.mark.parametrize(("holder", "detached", "who"), [
    ({"pid": 7, "host": "n1", "slurm_job_id": "88"}, "88",
     "the controller in SLURM job 88 (run --detach)"),
    ({"pid": 7, "host": "n1", "slurm_job_id": "91"}, None, "the controller in SLURM job 91"),
    ({"pid": 7, "host": "login1", "slurm_job_id": None}, "88", "pid 7 on host login1"),
    (None, "88", "the controller in SLURM job 88 (run --detach)"),
    (None, None, "another controller"),
])
def test_a_refused_controller_is_told_who_runs_the_search_and_how_to_follow_or_stop_it(
        tmp_path: Path, holder: dict[str, object] | None, detached: str | None,
        who: str) -> None:
    text = busy_message(tmp_path, holder, detached)
    assert text.startswith(f"{tmp_path} is in use by {who};"), text
    assert f"orchestrator watch {tmp_path}" in text
    assert f"orchestrator cancel {tmp_path}" in text


def test_a_second_controller_refused_by_a_detached_one_names_its_slurm_job(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    layout.controller_job_path(tmp_path).write_text(json.dumps(
        {"job_id": "4242", "name": "x-controller", "folder": str(tmp_path), "t": 0.0}))
    with SearchLock(tmp_path), pytest.raises(SearchLocked) as refused, SearchLock(tmp_path):
        pass
    assert "SLURM job 4242 (run --detach)" in str(refused.value)
    assert f"orchestrator watch {tmp_path}" in str(refused.value)
