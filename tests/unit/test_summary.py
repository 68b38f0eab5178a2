"""The typed summary (reporting.summary): built once per write, and its JSON form is exactly
summary.json's as it was when the summary was a dict (same keys, values and key order),
pinned on a recorded journal with every kind of entry: a failed evaluation with logs, a
training failure, a worker job, a promotion, checkpoint sizes, sampled list parameters."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cli import cmd_status
from orchestrator.common.fsutil import atomic_write_json
from orchestrator.decide.stop_rule import Rule
from orchestrator.model.events import Event, decode
from orchestrator.model.state import SearchState
from orchestrator.reporting.files import write_outcome
from orchestrator.reporting.outcome import summary
from orchestrator.reporting.summary import Summary, build, iso

RICH = [
    {"event": "search_started", "t": 1_700_000_000.0, "settings": {
        "search": {"dir": "/runs/x", "metric": "accuracy", "target": 0.8, "mode": "max",
                   "patience": 1, "min_delta": 0.0, "split": "validation"},
        "executor": {"name": "local", "train": {"gpus_per_node": 1, "nodes": 1},
                     "infer": {"gpus_per_node": 1}},
        "infer": {"placement": "worker"}}},
    {"event": "trial_started", "t": 1_700_000_001.0, "trial": 1, "seed": 42,
     "output_dir": "/o/001", "params": {"learning_rate": 3e-5, "warmup_steps": 500},
     "sampler_trial": None},
    {"event": "trial_started", "t": 1_700_000_001.0, "trial": 2, "seed": 43,
     "output_dir": "/o/002", "params": {"learning_rate": 1e-4, "layers": [1, 2]},
     "sampler_trial": None},
    {"event": "submit_intent", "t": 1_700_000_002.0, "key": "train-t001-a0", "kind": "train",
     "trial": 1, "step": None, "attempt": 0, "folder": "/f", "name": "x-0123abcd-train-t001-a0",
     "overrides": {}},
    {"event": "submitted", "t": 1_700_000_002.0, "key": "train-t001-a0", "job_id": "77"},
    {"event": "job_state", "t": 1_700_000_003.0, "key": "train-t001-a0", "job_id": "77",
     "state": "RUNNING"},
    {"event": "submit_intent", "t": 1_700_000_002.0, "key": "train-t002-a0", "kind": "train",
     "trial": 2, "step": None, "attempt": 0, "folder": "/f2", "name": "x-0123abcd-train-t002-a0",
     "overrides": {}},
    {"event": "submitted", "t": 1_700_000_002.0, "key": "train-t002-a0", "job_id": "78"},
    {"event": "job_state", "t": 1_700_000_004.0, "key": "train-t002-a0", "job_id": "78",
     "state": "RUNNING"},
    {"event": "job_failed", "t": 1_700_000_005.0, "key": "train-t002-a0", "cause": "oom",
     "reason": "CUDA out of memory", "job_id": "78", "state": "FAILED"},
    {"event": "job_state", "t": 1_700_000_005.0, "key": "train-t002-a0", "job_id": "78",
     "state": "FAILED"},
    {"event": "submit_intent", "t": 1_700_000_002.0, "key": "worker-w01-a0", "kind": "worker",
     "trial": 0, "step": None, "attempt": 0, "folder": "/w", "name": "x-0123abcd-worker-w01-a0",
     "overrides": {}},
    {"event": "submitted", "t": 1_700_000_002.0, "key": "worker-w01-a0", "job_id": "80"},
    {"event": "job_state", "t": 1_700_000_003.0, "key": "worker-w01-a0", "job_id": "80",
     "state": "RUNNING"},
    {"event": "checkpoint", "t": 1_700_000_010.0, "trial": 1, "step": 100, "path": "/o/c-100"},
    {"event": "checkpoint_sized", "t": 1_700_000_010.0, "trial": 1, "step": 100,
     "bytes": 1_300_000},
    {"event": "checkpoint", "t": 1_700_000_011.0, "trial": 1, "step": 200, "path": "/o/c-200"},
    {"event": "evaluation", "t": 1_700_000_012.0, "trial": 1, "step": 100, "value": 0.7025,
     "job_id": None, "checkpoint": "/o/c-100", "result": "/r/100.json",
     "metrics": {"validation": {"accuracy": 0.7025}, "test": {"accuracy": 0.69}},
     "split": "validation"},
    {"event": "evaluation", "t": 1_700_000_013.0, "trial": 1, "step": 200, "value": None,
     "job_id": "79", "checkpoint": "/o/c-200", "error": "no result", "logs": ["/l/a", "/l/b"]},
    {"event": "job_state", "t": 1_700_000_013.0, "key": "worker-w01-a0", "job_id": "80",
     "state": "SUCCEEDED"},
    {"event": "promoted", "t": 1_700_000_013.5, "trial": 1, "step": 100,
     "checkpoint": "/o/c-100", "value": 0.7025, "path": "/runs/x/best"},
    {"event": "trial_ended", "t": 1_700_000_014.0, "trial": 1, "how": "metric_fell",
     "step": 200, "reason": "accuracy fell 0.7025 -> 0.6955 at step 200 (patience 1)"},
    {"event": "training_ended", "t": 1_700_000_015.0, "trial": 1, "outcome": "cancelled",
     "reason": "cancelled by the controller: the trial had ended"},
    {"event": "job_state", "t": 1_700_000_015.0, "key": "train-t001-a0", "job_id": "77",
     "state": "CANCELLED"},
    {"event": "search_ended", "t": 1_700_000_016.0, "status": "metric_fell",
     "reason": "every trial ended"},
]


def expected() -> dict[str, Any]:
    """summary() on RICH before the typed summary (its times in the local offset)."""
    return {
        'status': 'metric_fell',
        'target': 0.8,
        'metric': 'accuracy',
        'mode': 'max',
        'split': 'validation',
        'best': {'trial': 1,
                 'step': 100,
                 'checkpoint': '/o/c-100',
                 'value': 0.7025,
                 'split': 'validation',
                 'metrics': {'validation': {'accuracy': 0.7025}, 'test': {'accuracy': 0.69}}},
        'promoted': {'event': 'promoted',
                     't': 1700000013.5,
                     'trial': 1,
                     'step': 100,
                     'checkpoint': '/o/c-100',
                     'value': 0.7025,
                     'path': '/runs/x/best'},
        'promote_error': None,
        'evaluations': [{'trial': 1,
                         'step': 100,
                         'value': 0.7025,
                         'job_id': None,
                         'checkpoint': '/o/c-100',
                         'result': '/r/100.json',
                         'error': None,
                         'logs': None,
                         'split': 'validation',
                         'metrics': {'validation': {'accuracy': 0.7025},
                                     'test': {'accuracy': 0.69}}},
                        {'trial': 1,
                         'step': 200,
                         'value': None,
                         'job_id': '79',
                         'checkpoint': '/o/c-200',
                         'result': '',
                         'error': 'no result',
                         'logs': ['/l/a', '/l/b'],
                         'split': 'test',
                         'metrics': {'validation': {}, 'test': {}}}],
        'trials': [{'trial': 1,
                    'seed': 42,
                    'params': {'learning_rate': 3e-05, 'warmup_steps': 500},
                    'best_value': 0.7025,
                    'job_hours': 0.0033,
                    'ended': 'metric_fell',
                    'ended_at_step': 200,
                    'ended_reason': 'accuracy fell 0.7025 -> 0.6955 at step 200 (patience 1)',
                    'training': 'cancelled',
                    'training_reason': 'cancelled by the controller: the trial had ended',
                    'train_job_ids': ['77'],
                    'train_job_states': ['CANCELLED'],
                    'train_failures': [],
                    'last_checkpoint_step': 200,
                    'max_steps': None,
                    'checkpoints': 2},
                   {'trial': 2,
                    'seed': 43,
                    'params': {'learning_rate': 0.0001, 'layers': [1, 2]},
                    'best_value': None,
                    'job_hours': 0.0003,
                    'ended': None,
                    'ended_at_step': None,
                    'ended_reason': None,
                    'training': 'running',
                    'training_reason': None,
                    'train_job_ids': ['78'],
                    'train_job_states': ['FAILED'],
                    'train_failures': [{'job_id': '78',
                                        'cause': 'oom',
                                        'reason': 'CUDA out of memory'}],
                    'last_checkpoint_step': None,
                    'max_steps': None,
                    'checkpoints': 0}],
        'jobs': {'train-t001-a0': {'job_id': '77', 'state': 'CANCELLED'},
                 'train-t002-a0': {'job_id': '78', 'state': 'FAILED'},
                 'worker-w01-a0': {'job_id': '80', 'state': 'SUCCEEDED'}},
        'started_at': 1700000000.0,
        'finished_at': 1700000016.0,
        'started_at_iso': iso(1_700_000_000.0),
        'finished_at_iso': iso(1_700_000_016.0),
        'reason': 'every trial ended',
        'job_hours': 0.0064,
        'job_hours_by_kind': {'train': 0.0036, 'infer': 0.0, 'worker': 0.0028},
        'gpu_hours': 0.0064,
        'worker_idle_hours': 0.0028,
        'resumes': 0,
        'disk': {'peak_bytes': 1300000, 'final_bytes': 1300000, 'freed_bytes': 0},
        'placement': 'worker',
        'scheduler_jobs': {'train': 2, 'infer': 0, 'worker': 1}}


def typed(events: list[dict[str, Any]]) -> list[Event]:
    return [decode(e, f"recorded journal:{n}") for n, e in enumerate(events, start=1)]


def _in_order(data: Any) -> str:
    return json.dumps(data)  # no sort_keys: the key order is part of summary.json


def test_the_json_form_is_summary_json_as_it_was() -> None:
    built = build(SearchState.replay(typed(RICH)), Rule(0.8))
    assert _in_order(built.to_json()) == _in_order(expected())
    assert _in_order(summary(SearchState.replay(typed(RICH)), Rule(0.8))) == _in_order(expected())


def test_the_summary_is_frozen() -> None:
    built = build(SearchState.replay(typed(RICH)), Rule(0.8))
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.status = "running"  # type: ignore[misc]
    assert isinstance(built, Summary) and built.trials[1].train_failures[0].cause == "oom"
    assert built.trials[0].why_ended() == "accuracy fell 0.7025 -> 0.6955 at step 200 " \
        "(patience 1)"


def test_summary_json_and_status_json_are_written_from_it(tmp_path: Path) -> None:
    (tmp_path / "journal.jsonl").write_text("".join(json.dumps(e) + "\n" for e in RICH))
    write_outcome(SearchState.replay(typed(RICH)), Rule(0.8), tmp_path)
    atomic_write_json(tmp_path / "before.json", expected())  # as summary.json was written
    assert (tmp_path / "summary.json").read_text() == (tmp_path / "before.json").read_text()
    shown = json.loads(cmd_status.status(tmp_path, as_json=True)[0])
    assert {k: shown[k] for k in expected()} == expected()


def test_one_build_per_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.reporting import files, report_data
    from orchestrator.reporting import summary as module

    built: list[Summary] = []

    def counted(state: SearchState, rule: Rule, now: float | None = None) -> Summary:
        built.append(module.build(state, rule, now))
        return built[-1]

    monkeypatch.setattr(files, "build", counted)
    monkeypatch.setattr(report_data, "build", counted)
    files.write_outcome(SearchState.replay(typed(RICH)), Rule(0.8), tmp_path)
    assert len(built) == 1
    assert (tmp_path / "report.html").exists() and (tmp_path / "report.md").exists()
