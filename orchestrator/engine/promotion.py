"""The finish's promotion: the best checkpoint copied to best/, journaled as `promoted`, or
as `promote_failed` when the checkpoint is gone (moved out of the controller, issue 25, to
keep engine/controller.py within its size)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.common import layout
from orchestrator.decide.stop_rule import Rule
from orchestrator.engine.observe import Record
from orchestrator.errors import OrchestratorError
from orchestrator.model import events
from orchestrator.model.state import SearchState
from orchestrator.reporting.outcome import promote_best


def promote(state: SearchState, rule: Rule, search_dir: Path, record: Record) -> None:
    try:
        promoted = promote_best(state, rule, search_dir)
    except FileNotFoundError as exc:
        promoted = None
        record(events.PromoteFailed(reason=(
            f"the best checkpoint is gone ({exc.filename}): something deleted it "
            "(train.save_total_limit?); keep every checkpoint in the next search")))
    except OSError as exc:
        raise OrchestratorError(
            f"cannot copy the best checkpoint to {layout.best_dir(search_dir)}: {exc}; "
            "free space or fix permissions, then run the same command again"
        ) from exc
    if promoted is not None:
        record(events.Promoted(**promoted))
