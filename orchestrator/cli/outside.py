"""The commands that work on a search from outside its controller: `watch`, `cancel`, `ls`.

Kept light, like `status`: none imports Hydra or submitit until it must (`cancel` with no
controller alive runs one), and none talks to a scheduler except that one.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from orchestrator import exit_codes


def add_parsers(sub: Any) -> None:
    watch = sub.add_parser("watch", help="follow a running search's live view from any "
                           "terminal (journal and files alone; no scheduler call); exits "
                           "with the search's exit status when it ends")
    watch.add_argument("dir", type=Path)
    watch.add_argument("--plain", action="store_true",
                       help="one line per event even on a terminal")
    watch.add_argument("--interval", type=float, default=1.0,
                       help="seconds between reads of the journal (default 1)")
    cancel = sub.add_parser("cancel", help="end a running search: its controller (or this "
                            "command, when none is alive) cancels every job and writes the "
                            f"outcome with status cancelled (exit {exit_codes.CANCELLED})")
    cancel.add_argument("dir", type=Path)
    cancel.add_argument("--wait", type=float, default=600.0,
                        help="seconds to wait for a live controller to finish (default 600; "
                        f"then exit {exit_codes.RUNNING}: it was asked and is still ending)")
    ls = sub.add_parser("ls", help="one line per search under ROOT (default: here): status, "
                        "controller, best, trials, jobs running/pending, last event")
    ls.add_argument("root", type=Path, nargs="?", default=Path("."))
    ls.add_argument("--json", action="store_true", help="a JSON list instead of a table")


def dispatch(args: argparse.Namespace) -> int | None:
    """The exit status of an outside command; None for any other command."""
    if args.command == "watch":
        return _watch(args.dir, args.plain, args.interval)
    if args.command == "cancel":
        from orchestrator.cli import cmd_cancel as cancel_command

        text, code = cancel_command.cancel(args.dir, args.wait)
        print(text, end="")
        return code
    if args.command == "ls":
        from orchestrator.cli import cmd_ls as listing

        print(listing.listing(args.root, args.json), end="")
        return 0
    return None


def _watch(directory: Path, plain: bool, interval: float) -> int:
    from orchestrator.cli import cmd_watch as watching
    from orchestrator.view.live import make_view

    view = make_view(plain)
    try:
        code, line = watching.watch(directory, view, interval_s=interval)
    finally:
        view.close()
    print(line)
    return code
