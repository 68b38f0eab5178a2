"""What the fold derives once per version (model.memo) never outlives its settings: a state
snapshot carries no memo, and retention's removals are its own Retention's, so `clean
--keep 1` on a search whose controller kept everything frees what it should (issue 25's
review: a memo pickled with the snapshot answered `clean` with the controller's removals)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

from bench.phases.long_journal import SETTINGS
from orchestrator.cli import cmd_clean
from orchestrator.common import layout
from orchestrator.common.checkpoints import write_marker
from orchestrator.config.settings import SearchSettings
from orchestrator.decide.stop_rule import Mode, Rule
from orchestrator.engine.deletion import Retention
from orchestrator.journal import state_snapshot
from orchestrator.journal.jsonl import Journal
from orchestrator.model.events import Event, build
from orchestrator.model.state import SearchState


def ended_search(search_dir: Path) -> list[Event]:
    """One trial of three evaluated checkpoints (1 kB each), ended, kept with keep=all."""
    settings = json.loads(SETTINGS.read_text())
    settings["search"]["dir"], settings["search"]["keep"] = str(search_dir), "all"
    out = [build("search_started", settings=settings, t=1.0),
           build("trial_started", trial=1, seed=1, params={}, sampler_trial=None,
                 output_dir=str(layout.trial_dir(search_dir, 1)), t=1.0)]
    for step, value in {10: 0.5, 20: 0.9, 30: 0.6}.items():
        path = layout.checkpoint_dir(layout.trial_dir(search_dir, 1), step)
        path.mkdir(parents=True)
        (path / "model.safetensors").write_bytes(b"x" * 1000)
        write_marker(path, step)
        out += [build("checkpoint", trial=1, step=step, path=str(path), run="", t=2.0),
                build("evaluation", trial=1, step=step, value=value, job_id="1",
                      checkpoint=str(path), t=2.0)]
    return [*out, build("trial_ended", trial=1, how="complete", step=None, reason="", t=3.0),
            build("search_ended", status="exhausted", reason="", t=3.0)]


def test_clean_after_the_controller_s_retention_and_its_snapshot(tmp_path: Path) -> None:
    journal, state = Journal(layout.journal_path(tmp_path)), SearchState()
    for event in ended_search(tmp_path):
        state.apply(journal.append(event))

    def record(event: Event) -> Event:
        state.apply(journal.append(event))
        return event

    # the controller's finish: its retention (keep=all) removes nothing; then the snapshot
    Retention(SearchSettings(dir=str(tmp_path), keep="all"), state, record,
              Rule(0.99, Mode.MAX)).tick()
    state.memo("probe", lambda: 1)
    state_snapshot.write_journaled(journal, state)
    journal.close()
    loaded = state_snapshot.load(tmp_path)
    assert loaded is not None and loaded.state.version == state.version
    assert loaded.state.memo("probe", lambda: 2) == 2  # computed again, not carried over
    said = cmd_clean.clean(tmp_path, "1", "all")
    assert "freed 2.0 kB" in said, said
    assert [p.name for p in sorted(layout.trial_dir(tmp_path, 1).glob("checkpoint-*"))] == [
        "checkpoint-20"]


def test_a_pickled_state_keeps_its_fold_and_drops_its_memo() -> None:
    state = SearchState()
    state.apply(build("trial_started", trial=1, seed=1, params={}, sampler_trial=None,
                      output_dir="/s/t1", t=1.0))
    assert [t.trial for t in state.active_trials()] == [1]
    again = pickle.loads(pickle.dumps(state))
    assert again == state and again.memo("active_trials", lambda: ()) == ()
