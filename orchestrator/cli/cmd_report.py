"""`orchestrator report DIR [--x step|examples]`: the reports rewritten from the journal alone.

No scheduler call, no lock: a running controller's journal is only read, and each file is
replaced atomically, as the controller replaces it; summary.json is written only once the
search has ended (scripts take its presence to mean that)."""

from __future__ import annotations

import argparse
from pathlib import Path

from orchestrator.common import layout
from orchestrator.journal import search_folder
from orchestrator.reporting.files import write_outcome

HELP = ("rewrite a search's report.md and metric.png (summary.json once it ended) from its "
        "journal alone, also while it runs")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path)
    parser.add_argument("--x", choices=("step", "examples"), default=None,
                        help="report.html's x axis, instead of the search's report.x")


def run(args: argparse.Namespace) -> int:
    print(report(args.dir, args.x), end="")
    return 0


def report(search_dir: Path, x: str | None = None) -> str:
    """report.md, metric.png and report.html (summary.json once the search has ended)."""
    state, rule, _, _ = search_folder.replay(search_dir)
    data = write_outcome(state, rule, search_dir, x)  # x: report.html's axis, else report.x
    return (f"status: {data.status}; {len(data.evaluations)} evaluation(s)\n"
            f"report: {layout.report_path(search_dir)}\nplot: {layout.plot_path(search_dir)}\n"
            f"html: {layout.html_path(search_dir)}\n")
