"""`orchestrator run ...`, `orchestrator status DIR` and `orchestrator report DIR`.

Kept light on purpose: `--help`, `status` and `report` import neither Hydra nor submitit, and
nothing here ever imports torch, transformers or datasets (login nodes).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from orchestrator import exit_codes
from orchestrator.cli import outside
from orchestrator.errors import ConfigError, OrchestratorError

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"

RUN_HELP = """\
Run (or resume) a search. Overrides are Hydra's key=value and group=option, e.g.:
  orchestrator run executor=local data=synthetic model=tiny search.target=0.80 \\
      search.dir=runs/demo
Running the same command again resumes the search from its journal, or prints its outcome.
Quote values as bash wants them: a text setting is taken literally, e.g.
  train.command='bash run_train.sh {{model}} {{output_dir}}' search.dir="my runs/it's here"

config groups (group=option; folders of {conf}):
{groups}
Every key, its meaning and its default: orchestrator/config/settings.py and conf/config.yaml
(`orchestrator run --cfg job ...` prints the composed config).

exit status:
  0    the target was reached
  1    the search ended without reaching it (metric fell, trials exhausted)
  2    usage or configuration error, or the scheduler refused the first submission
       (nothing was submitted)
  3    the search failed (jobs failed beyond their retries, or the scheduler refused
       a submission after jobs had run)
  6    the search was cancelled (`orchestrator cancel`)
  130  interrupted (Ctrl-C); run the same command again to resume
"""


def version() -> str:
    from importlib import metadata

    try:
        return metadata.version("slurm-orchestrator")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        from orchestrator import __version__

        return __version__


def groups_help(conf: Path = CONF_DIR) -> str:
    """The config groups and their options, read from conf/ (no Hydra: --help stays light);
    the default option, from conf/config.yaml's defaults list, is starred."""
    try:
        text = (conf / "config.yaml").read_text()
        folders = sorted(p for p in conf.iterdir() if p.is_dir())
    except OSError:
        return f"  (no config folder at {conf})\n"
    defaults = dict(re.findall(r"^\s*-\s*(\w+)\s*:\s*(\S+)", text, re.MULTILINE))
    lines = []
    for folder in folders:
        options = sorted(p.stem for p in folder.glob("*.yaml"))
        shown = [f"{o}*" if defaults.get(folder.name) == o else o for o in options]
        lines.append(f"  {folder.name:<10} {' | '.join(shown)}")
    return "\n".join(lines) + "\n  (* the default)\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orchestrator",
        description="Train, evaluate every checkpoint while training runs, stop when good "
        "enough: on SLURM or locally.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run or resume a search",
                         description=RUN_HELP.format(conf=CONF_DIR, groups=groups_help()),
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
    run.add_argument("--detach", action="store_true",
                     help="run the controller in the background (local: a detached process; "
                     "slurm: a small SLURM job) and return at once")
    # Hydra's habit: refused with the search.space equivalent (a search tries settings itself)
    run.add_argument("-m", "--multirun", action="store_true", help=argparse.SUPPRESS)
    status = sub.add_parser("status", help="show a search's state from its journal alone")
    status.add_argument("dir", type=Path)
    status.add_argument("--json", action="store_true", help="print summary.json's content")
    report = sub.add_parser("report", help="rewrite a search's report.md and metric.png "
                            "(summary.json once it ended) from its journal alone, also while "
                            "it runs")
    report.add_argument("dir", type=Path)
    report.add_argument("--x", choices=("step", "examples"), default=None,
                        help="report.html's x axis, instead of the search's report.x")
    clean = sub.add_parser("clean", help="delete an ended search's checkpoints (best/ stays)")
    clean.add_argument("dir", type=Path)
    clean.add_argument("--keep", default="best",
                       help="best (default: every checkpoint; best/ holds the copy), N (each "
                       "trial's N best), or all (only finish a killed deletion)")
    clean.add_argument("--keep-optimizer", choices=("latest", "all"), default="latest",
                       help="all: what is kept keeps its optimizer and RNG state")
    outside.add_parsers(sub)  # watch, cancel, ls
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # --detach reruns them
    if rest and args.command == "run" and not any(r.startswith("-") for r in rest):
        args.overrides += rest  # overrides after a flag: `run a=1 --dry-run b=2`
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if args.command == "status":
            return _status(args.dir, args.json)
        if args.command == "report":
            return _report(args.dir, args.x)
        if args.command == "clean":
            from orchestrator.cli.cmd_clean import clean

            print(clean(args.dir, args.keep, args.keep_optimizer), end="")
            return 0
        code = outside.dispatch(args)
        return code if code is not None else _run(args)
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


def error_text(exc: OrchestratorError) -> str:
    """One line per problem: `error: <problem>`, or a count then one problem a line."""
    if isinstance(exc, ConfigError) and len(exc.problems) > 1:
        return "\n".join([f"error: {len(exc.problems)} problems in the configuration:",
                          *(f"  {p}" for p in exc.problems)])
    return f"error: {exc}"


def _run(args: argparse.Namespace) -> int:
    from orchestrator.config import compose as config  # Hydra is imported only for `run`

    composed = config.compose(list(args.overrides), args.config_dir, multirun=args.multirun)
    if args.cfg:
        print(config.to_yaml(composed, resolve=args.resolve), end="")
        return 0
    settings = config.to_settings(composed)
    from orchestrator.config import preflight
    from orchestrator.config.validate import warnings
    from orchestrator.engine import app

    # preflight's: likely, not certain (the jobs' machines may differ from this one)
    for line in [*warnings(settings), *preflight.warnings(settings)]:
        print(f"warning: {line}", file=sys.stderr)

    if args.dry_run:
        print(app.dry_run(settings), end="")
        return 0
    if args.detach:
        from orchestrator.engine import detach

        text, code = detach.detach(settings, args.argv)
        print(text, end="")
        return code
    status = app.run_search(settings, plain=args.plain, force_resume=args.force_resume)
    return exit_codes.of_status(status)


def _status(directory: Path, as_json: bool) -> int:
    from orchestrator.engine import app

    text, code = app.status(directory, as_json)
    print(text, end="")
    return code


def _report(directory: Path, x: str | None = None) -> int:
    from orchestrator.engine import app

    print(app.report(directory, x), end="")
    return 0
