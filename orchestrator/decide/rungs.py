"""The rungs of search.early_stop=asha or hyperband as `status` shows them: who reached each
rung so far, with what value, in the journal's order, and who was stopped there. The same
walk as decide.pruning's (halving), over the journaled settings, so it shows what decided."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.config.settings import EarlyStop
from orchestrator.decide.pruning import bracket_of, brackets, halving
from orchestrator.decide.stop_rule import Rule
from orchestrator.model.state import SearchState
from orchestrator.model.transitions import TrialEnd

Arrivals = Sequence[tuple[int, int, float | None]]


def rung_lines(state: SearchState, rule: Rule) -> list[str]:
    """`status`'s rungs section; none unless the search stops trials at rungs."""
    settings = state.settings()
    search = settings["search"]
    how = search.get("early_stop", EarlyStop.NONE)
    if how not in (EarlyStop.ASHA, EarlyStop.HYPERBAND):
        return []
    eta = int(search["early_stop_reduction_factor"])
    lines = [f"rungs (search.early_stop={how}; at each, the best max(n // {eta}, 1) of the n "
             "trials that reached it go on; in the order they reached it):"]
    for bracket, first, arrivals in _groups(search, settings["train"], state, eta):
        cuts, reached = halving(rule, arrivals, int(search["early_stop_min_trials"]), first,
                                eta)
        where = "" if bracket is None else f"bracket {bracket}, "
        for rung, values in sorted(reached.items()):
            shown = ", ".join(
                f"trial {t} {v:.4f}" + (" (stopped)" if t in cuts and cuts[t].rung == rung
                                        and state.trials[t].ended == TrialEnd.PRUNED else "")
                for t, v in values)
            lines.append(f"  {where}rung {rung}: {shown}")
    return lines if len(lines) > 1 else [*lines, "  no trial has reached a rung yet"]


def _groups(search: dict[str, Any], train: dict[str, Any], state: SearchState,
            eta: int) -> list[tuple[int | None, int, Arrivals]]:
    """(bracket, first rung, its trials' results): one group under asha, one per bracket
    under hyperband (as decide.pruning.hyperband_prune draws them)."""
    arrivals = [(t, s, v) for (t, s), v in state.all_results().items()]
    grace = int(search["early_stop_grace_steps"])
    if search["early_stop"] == EarlyStop.ASHA:
        return [(None, grace, arrivals)]
    last = int(search.get("early_stop_max_resource") or train.get("max_steps") or 0)
    n = brackets(grace, last, eta) if last >= grace else 1  # validated; a journal may predate
    of = {t: bracket_of(t, n, eta) for t, _, _ in arrivals}
    return [(b, grace * eta ** b, [a for a in arrivals if of[a[0]] == b]) for b in range(n)]
