"""`search.notify`: a command run once when the search ends.

Theory of operation: the command is an argument vector (never a shell), its placeholders
{status} {best_value} {search_dir} {report} filled in (`{{`/`}}` for a literal brace). It is
journaled (`notified`, after the search's last `search_ended`) BEFORE it runs, so a rerun of
the ended search never runs it twice: at most once, never a duplicate message. A command
that is missing, fails or hangs is a warning on stderr, never a failed search. What is
journaled and printed is redacted (common.redact: a webhook's token); the command runs with
the real words. A controller that has only the journal's settings (`cancel` with no
controller alive) has only the redacted words: it leaves a secret-bearing notification to
the next run of the search's own command.
"""

from __future__ import annotations

import string
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchestrator.common import layout, redact
from orchestrator.model.events import Event, Notified
from orchestrator.model.journal_facts import JournalFacts

PLACEHOLDERS = ("status", "best_value", "search_dir", "report")
TIMEOUT_S = 60.0  # a notification that hangs must not keep the controller


def problems(argv: Sequence[str]) -> list[str]:
    """Config-time checks of search.notify: one line per problem."""
    found: list[str] = []
    for i, word in enumerate(argv):
        try:
            names = [f for _, f, _, _ in string.Formatter().parse(word) if f is not None]
        except ValueError as exc:
            found.append(f"search.notify[{i}]: {exc}; write {{{{ and }}}} for a literal brace")
            continue
        unknown = [n for n in names if n not in PLACEHOLDERS]
        if unknown:
            found.append(f"search.notify[{i}]: unknown placeholder {{{unknown[0]}}}; known: "
                         + " ".join(f"{{{n}}}" for n in PLACEHOLDERS))
    return found


def due(argv: Sequence[str], journal: JournalFacts | Sequence[Event]) -> bool:
    """Has the search ended, and has no notification been journaled since its last end?
    `journal`: its facts (model.journal_facts), or its events."""
    facts = journal if isinstance(journal, JournalFacts) else JournalFacts.of(journal)
    return bool(argv) and facts.ended and not facts.notified


def fill(argv: Sequence[str], summary: dict[str, Any], search_dir: Path) -> list[str]:
    best = summary.get("best") or {}
    values = {"status": summary["status"],
              "best_value": "" if best.get("value") is None else f"{best['value']:.6g}",
              "search_dir": str(search_dir), "report": str(layout.report_path(search_dir))}
    return [word.format(**values) for word in argv]


def run(argv: Sequence[str]) -> str | None:
    """Run the filled command; a warning's text when it could not run or failed."""
    try:
        done = subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"search.notify {argv[0]!r} did not run: {exc}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no error output"])[-1]
        return f"search.notify {argv[0]!r} exited with {done.returncode}: {last}"
    return None


def notify_once(argv: Sequence[str], journal: Any, summary: dict[str, Any],
                search_dir: Path) -> None:
    """Journal, then run, the notification for the search's end, unless already done."""
    if not due(argv, journal.facts):
        return
    if any(redact.MASK in word for word in argv):
        print("warning: search.notify holds a redacted secret (these settings come from the "
              "journal): it runs when the search's own command is run again", file=sys.stderr)
        return
    filled = fill(argv, summary, search_dir)
    journal.append(Notified(argv=redact.argv(filled), status=summary["status"]))
    warning = run(filled)
    if warning:
        print(f"warning: {redact.text(warning)}", file=sys.stderr)
