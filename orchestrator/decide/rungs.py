"""The rungs of search.early_stop=asha or hyperband as `status` shows them: who reached each
rung so far, with what value, in the journal's order, and who was stopped there. The same
walk as decide.pruning's (halving), over the journaled settings, so it shows what decided."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.config.settings import EarlyStop
from orchestrator.decide.pruning import bracket_of, brackets, halving, in_step_order
from orchestrator.decide.stop_rule import Rule
from orchestrator.model.state import SearchState
from orchestrator.model.transitions import TrialEnd

Arrivals = Sequence[tuple[int, int, float | None]]


def rung_table(state: SearchState, rule: Rule) -> list[dict[str, Any]] | None:
    """`status --json`'s `rungs`: None unless the search stops trials at rungs; else one
    object per rung reached so far, by bracket then step: {"bracket": int | None (asha),
    "rung": step, "trials": [{"trial", "value", "stopped"}, ...] in the order they reached
    it}, `stopped` true for the trial cut there (the walk the rule made over the journal)."""
    search = state.settings()["search"]
    if search.get("early_stop", EarlyStop.NONE) not in (EarlyStop.ASHA, EarlyStop.HYPERBAND):
        return None
    eta = int(search["early_stop_reduction_factor"])
    table: list[dict[str, Any]] = []
    for bracket, first, arrivals in _groups(search, state.settings()["train"], state, eta):
        cuts, reached = halving(rule, arrivals, int(search["early_stop_min_trials"]), first,
                                eta)
        table += [{"bracket": bracket, "rung": rung, "trials": [
            {"trial": t, "value": v, "stopped": t in cuts and cuts[t].rung == rung
             and state.trials[t].ended == TrialEnd.PRUNED} for t, v in values]}
            for rung, values in sorted(reached.items())]
    return table


def rung_lines(state: SearchState, rule: Rule) -> list[str]:
    """`status`'s rungs section; none unless the search stops trials at rungs."""
    table = rung_table(state, rule)
    if table is None:
        return []
    search = state.settings()["search"]
    eta = int(search["early_stop_reduction_factor"])
    lines = [f"rungs (search.early_stop={search['early_stop']}; at each, the best "
             f"max(n // {eta}, 1) of the n trials that reached it go on; in the order they "
             "reached it):"]
    for row in table:
        where = "" if row["bracket"] is None else f"bracket {row['bracket']}, "
        shown = ", ".join(f"trial {t['trial']} {t['value']:.4f}"
                          + (" (stopped)" if t["stopped"] else "") for t in row["trials"])
        lines.append(f"  {where}rung {row['rung']}: {shown}")
    return lines if table else [*lines, "  no trial has reached a rung yet"]


def _groups(search: dict[str, Any], train: dict[str, Any], state: SearchState,
            eta: int) -> list[tuple[int | None, int, Arrivals]]:
    """(bracket, first rung, its trials' results): one group under asha, one per bracket
    under hyperband (as decide.pruning.hyperband_prune draws them)."""
    arrivals = rung_arrivals(state)
    grace = int(search["early_stop_grace_steps"])
    if search["early_stop"] == EarlyStop.ASHA:
        return [(None, grace, arrivals)]
    last = int(search.get("early_stop_max_resource") or train.get("max_steps") or 0)
    n = brackets(grace, last, eta) if last >= grace else 1  # validated; a journal may predate
    of = {t: bracket_of(t, n, eta) for t, _, _ in arrivals}
    return [(b, grace * eta ** b, [a for a in arrivals if of[a[0]] == b]) for b in range(n)]


def rung_arrivals(state: SearchState) -> list[tuple[int, int, float | None]]:
    """The results as the rungs take them: journal order, each trial's in step order
    (decide.pruning.in_step_order)."""
    return in_step_order([(t, s, v) for (t, s), v in state.all_results().items()],
                         {n: trial.checkpoints.keys() for n, trial in state.trials.items()})
