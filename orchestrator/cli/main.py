"""`orchestrator COMMAND ...`: builds the parser from the command modules and dispatches.

Each command is one module of this folder with `HELP` (its line in `orchestrator --help`
and the description of its own --help), optionally `EXIT_STATUSES` (listed in its --help),
`add_arguments(parser)` and `run(args) -> int` (the exit status, exit_codes.py). Kept light
on purpose: `--help`, `status` and `report` import neither Hydra nor submitit, and nothing
here ever imports torch, transformers or datasets (login nodes).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import traceback
from collections.abc import Sequence
from types import ModuleType

from orchestrator import exit_codes
from orchestrator.cli import (
    cmd_cancel,
    cmd_clean,
    cmd_ls,
    cmd_report,
    cmd_run,
    cmd_status,
    cmd_watch,
)
from orchestrator.errors import ConfigError, OrchestratorError

# in the order `orchestrator --help` lists them
COMMANDS: dict[str, ModuleType] = {
    "run": cmd_run, "status": cmd_status, "report": cmd_report, "clean": cmd_clean,
    "watch": cmd_watch, "cancel": cmd_cancel, "ls": cmd_ls,
}


def version() -> str:
    from importlib import metadata

    try:
        return metadata.version("slurm-orchestrator")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        from orchestrator import __version__

        return __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orchestrator",
        description="Train, evaluate every checkpoint while training runs, stop when good "
        "enough: on SLURM or locally.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        codes = getattr(command, "EXIT_STATUSES", ())
        command.add_arguments(sub.add_parser(
            name, help=command.HELP, description=_sentence(command.HELP),
            epilog=exit_codes.help_text(codes) if codes else None,
            formatter_class=argparse.RawDescriptionHelpFormatter))
    return parser


def _sentence(text: str) -> str:
    """A command's one-line help as its --help's description: capitalised, a full stop."""
    return textwrap.fill(text[:1].upper() + text[1:] + ("" if text.endswith(".") else "."), 88)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # --detach reruns them
    if rest and args.command == "run" and not any(r.startswith("-") for r in rest):
        args.overrides += rest  # overrides after a flag: `run a=1 --dry-run b=2`
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        code: int = COMMANDS[args.command].run(args)
        return code
    except OrchestratorError as exc:
        if getattr(args, "traceback", False):
            raise
        print(error_text(exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        lines = getattr(exc, "lines", None) or ["interrupted: run the same command again to "
                                                 "resume"]
        print("\n".join(lines), file=sys.stderr)
        return exit_codes.KEYBOARD_INTERRUPT
    except Exception as exc:  # a bug: not the search's "not reached" (1), which Python gives
        if getattr(args, "traceback", False):
            raise
        traceback.print_exc(file=sys.stderr)
        print(crash_text(exc), file=sys.stderr)
        return exit_codes.CRASHED


def crash_text(exc: Exception) -> str:
    """The last line of a crash, under its traceback (kept: the report needs it)."""
    return (f"error: unexpected {type(exc).__name__}: {exc} (a bug: please report the "
            f"traceback above; exit status {exit_codes.CRASHED}); run the same command again to "
            "resume")


def error_text(exc: OrchestratorError) -> str:
    """One line per problem: `error: <problem>`, or a count then one problem a line."""
    if isinstance(exc, ConfigError) and len(exc.problems) > 1:
        return "\n".join([f"error: {len(exc.problems)} problems in the configuration:",
                          *(f"  {p}" for p in exc.problems)])
    return f"error: {exc}"
