"""`orchestrator run ...` and `orchestrator status DIR`.

Kept light on purpose: `--help` and `status` import neither Hydra nor submitit, and nothing
here ever imports torch, transformers or datasets (login nodes).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from orchestrator import exit_codes
from orchestrator.errors import OrchestratorError

EXIT_TARGET_REACHED = 0
EXIT_NOT_REACHED = 1
EXIT_USAGE = 2

RUN_HELP = """\
Run (or resume) a search. Overrides are Hydra's key=value and group=option, e.g.:
  orchestrator run executor=local data=synthetic model=tiny search.target=0.80 \\
      search.dir=runs/demo
Running the same command again resumes the search from its journal, or prints its outcome.
Exit status: 0 target reached, 1 ended without reaching it, 2 usage or configuration error.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orchestrator",
        description="Train, evaluate every checkpoint while training runs, stop when good "
        "enough: on SLURM or locally.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run or resume a search", description=RUN_HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("overrides", nargs="*", help="Hydra overrides: key=value, group=option")
    run.add_argument("--cfg", choices=("job", "all"),
                     help="print the composed config and exit (Hydra's --cfg)")
    run.add_argument("--resolve", action="store_true", help="resolve interpolations for --cfg")
    run.add_argument("--dry-run", action="store_true",
                     help="print the job scripts the search would submit, submit nothing")
    run.add_argument("--plain", action="store_true",
                     help="one line per event even on a terminal")
    run.add_argument("--force-resume", action="store_true",
                     help="resume a search.dir whose journal holds a different configuration")
    run.add_argument("--config-dir", type=Path, default=None,
                     help="a config folder to use instead of the project's conf/")
    run.add_argument("--traceback", action="store_true", help="show tracebacks of errors")
    status = sub.add_parser("status", help="show a search's state from its journal alone")
    status.add_argument("dir", type=Path)
    status.add_argument("--json", action="store_true", help="print summary.json's content")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "status":
            return _status(args.dir, args.json)
        return _run(args)
    except OrchestratorError as exc:
        if getattr(args, "traceback", False):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        lines = getattr(exc, "lines", None) or ["interrupted: run the same command again to "
                                                 "resume"]
        print("\n".join(lines), file=sys.stderr)
        return exit_codes.KEYBOARD_INTERRUPT


def _run(args: argparse.Namespace) -> int:
    from orchestrator import config  # Hydra is imported only for `run`

    composed = config.compose(list(args.overrides), args.config_dir)
    if args.cfg:
        print(config.to_yaml(composed, resolve=args.resolve), end="")
        return 0
    settings = config.to_settings(composed)
    from orchestrator import app

    if args.dry_run:
        print(app.dry_run(settings), end="")
        return 0
    status = app.run_search(settings, plain=args.plain, force_resume=args.force_resume)
    return EXIT_TARGET_REACHED if status == "target_reached" else EXIT_NOT_REACHED


def _status(directory: Path, as_json: bool) -> int:
    from orchestrator import app

    text, code = app.status(directory, as_json)
    print(text, end="")
    return code
