"""`orchestrator run [OVERRIDES]`: compose the configuration, then run or resume the search
(engine.run), print its scripts (`--dry-run`) or start its controller in the background
(`--detach`). Hydra is imported only here, and only when the command runs."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from orchestrator import exit_codes

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
HELP = "run or resume a search"

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
  7    the controller crashed (an unexpected error, a bug: please report its traceback);
       run the same command again to resume
  130  interrupted (Ctrl-C); run the same command again to resume
"""


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = RUN_HELP.format(conf=CONF_DIR, groups=groups_help())
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("overrides", nargs="*", help="Hydra overrides: key=value, group=option")
    parser.add_argument("--cfg", choices=("job", "all"),
                        help="print the composed config and exit (Hydra's --cfg)")
    parser.add_argument("--resolve", action="store_true",
                        help="resolve interpolations for --cfg")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the job scripts the search would submit, submit nothing")
    parser.add_argument("--plain", action="store_true",
                        help="one line per event even on a terminal")
    parser.add_argument("--force-resume", action="store_true",
                        help="resume a search.dir whose journal holds a different "
                        "configuration")
    parser.add_argument("--config-dir", type=Path, default=None,
                        help="a config folder to use instead of the project's conf/")
    parser.add_argument("--traceback", action="store_true", help="show tracebacks of errors")
    parser.add_argument("--detach", action="store_true",
                        help="run the controller in the background (local: a detached "
                        "process; slurm: a small SLURM job) and return at once")
    # Hydra's habit: refused with the search.space equivalent (a search tries settings itself)
    parser.add_argument("-m", "--multirun", action="store_true", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    from orchestrator.config import compose as config  # Hydra is imported only for `run`

    composed = config.compose(list(args.overrides), args.config_dir, multirun=args.multirun)
    if args.cfg:
        print(config.to_yaml(composed, resolve=args.resolve), end="")
        return 0
    settings = config.to_settings(composed)
    from orchestrator.config import preflight
    from orchestrator.config.validate import warnings
    from orchestrator.engine import run as engine

    # preflight's: likely, not certain (the jobs' machines may differ from this one)
    for line in [*warnings(settings), *preflight.warnings(settings)]:
        print(f"warning: {line}", file=sys.stderr)

    if args.dry_run:
        print(engine.dry_run(settings, args.argv if args.detach else None), end="")
        return 0
    if args.detach:
        from orchestrator.engine import detach

        text, code = detach.detach(settings, args.argv, args.force_resume)
        print(text, end="")
        return code
    from orchestrator.view.live import make_view

    status = engine.run_search(settings, lambda: make_view(args.plain),
                               force_resume=args.force_resume)
    return exit_codes.of_status(status)
