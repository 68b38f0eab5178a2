#!/usr/bin/env python3
"""Regenerate RELIABILITY.md: how the controller survives faults and bad input, in numbers.

    python scripts/reliability.py [--kills N] [--soak] [--real-cluster N] [--real-cluster-only]
                                  [--tests]

1. The kill -9 campaign on the real local SLURM cluster (bench/cluster/faults.py): one
   reference search, then N searches whose controller is killed at a stratified random
   point (by time or by journal line, the finish included), twice in two cases out of five,
   each rerun to its end and checked: same decision, nothing submitted or evaluated twice,
   no result lost, nothing left queued. Every third case detaches the controller as its own
   SLURM job (`run --detach`), kill -9s it inside that job and detaches again
   (bench/cluster/detached_kills.py). Default N=10; --soak runs 100 (or N if larger).
2. The targeted kill windows and the daemon/node faults (tests/slurm/test_faults.py, less
   the random campaign) and the bad-input cases (tests/e2e/test_bad_input.py), through
   pytest with --junitxml: one row per case. The daemon tests wait until no `python -m
   bench` runs, and bring the cluster back whatever happens.
3. The real cluster's faults, N runs each (bench/cluster/hostile.py; --real-cluster-only).
4. --tests: only the reliability tier, the tests CI leaves out (`pytest -m reliability`,
   bench/cluster/tier.py), their pass/fail in its own section; a full run keeps that section.
5. RELIABILITY.md: the machine and date, one table per fault kind (cases tried, passed,
   what the controller did), each case, the open bugs (the strict xfail tests) and the
   known limitations. The last --soak run's figures are kept when a plain run rewrites it.

Needs root on Debian 12 with the cluster (scripts/local-slurm up) and .venv; run from the
repository root or anywhere (paths are resolved from this file).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cluster import campaign, daemons, faults, hostile, junit, kills, tier  # noqa: E402
from bench.cluster.junit import Case  # noqa: E402

OUT = ROOT / "RELIABILITY.md"
PYTEST_FILES = ("tests/slurm/test_faults.py", "tests/e2e/test_bad_input.py")
SOAK_KILLS = 100
SOAK_MARK = "<!-- soak-data: "

# fault kind -> (test name patterns); the first kind whose pattern matches a test owns it
KINDS: list[tuple[str, tuple[str, ...]]] = [
    ("kill -9 of the controller at exact points", ("test_kill_9_", "test_a_job_id_reused")),
    ("slurmctld restarted / down", ("test_slurmctld_",)),
    ("slurmdbd down (sacct failing)", ("test_slurmdbd_", "test_evaluations_go_on")),
    ("node drained / DOWN", ("test_node_",)),
    ("bad output of inference jobs", ("test_legacy_output", "test_users_metric",
                                      "test_built_in_result", "test_checkpoint_that_vanishes",
                                      "test_inference_program")),
    ("bad training input (data, program)", ("test_data_file", "test_training_program")),
    ("bad search.dir or journal", ("test_unwritable", "test_torn_", "test_journal_",
                                   "test_search_dir_holding")),
    ("bad configuration (executor=slurm, no scheduler call)", ("test_bad_configuration",
                                                              "test_misspelt")),
]

LIMITATIONS = """\
- One machine: the namespaced nodes n1..n3 share its kernel and file system. A lost node is
  its slurmd and its jobs killed (`local-slurm kill-node`), not a machine that loses power
  with its local disk; network partitions and a shared file system's faults are not tried.
- slurmctld is restarted gracefully (SIGTERM, state saved). A slurmctld killed with -9
  loses the jobs submitted since its last state save and hands their ids out again; that
  is simulated (test_a_job_id_reused_by_another_job_is_never_cancelled: a journaled id is
  made to name another job) rather than done for real, because a real slurmctld -9 would
  lose the jobs of whatever else runs on this shared cluster (other tests, benchmarks).
- Kill points are sampled at 5 ms resolution over time and journal lines; a window shorter
  than that (between two system calls) is reached only by the targeted tests, which stall a
  scheduler command at the exact point with a PATH wrapper (bench/cluster/faults.py).
- Every search uses the users' own fake scripts (tests/fixtures/byo): the built-in training
  and inference jobs (torch) meet faults only in tests/e2e/test_bad_input.py (bad data) and
  in the other suites' kill/resume tests.
- Timings depend on this 2-core machine and on what else runs on the shared cluster.
"""


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_pytest(workdir: Path) -> tuple[list[Case], float]:
    """The fault tests (less the random campaign, run directly; the reliability tier's slow
    fault tests included) and the bad-input tests; slurmdbd down for a minute (CI: 30 s)."""
    down = os.environ.get("FAULTS_SLURMDBD_DOWN_S", "60")
    return junit.run(workdir, ["-k", "not random_points", "-m", "reliability or not reliability",
                               *PYTEST_FILES], {"FAULTS_SLURMDBD_DOWN_S": down}, say)


def kind_of(name: str) -> str:
    for kind, patterns in KINDS:
        if name.startswith(patterns):
            return kind
    return "other"


def machine() -> str:
    def out(*args: str) -> str:
        try:
            return subprocess.run(list(args), capture_output=True, text=True, check=False,
                                  timeout=30).stdout.strip()
        except OSError:
            return "?"

    memory = next((ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines()
                   if ln.startswith("MemTotal")), "0")
    debian = Path("/etc/debian_version").read_text().strip() if Path(
        "/etc/debian_version").exists() else "?"
    commit = out("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD")
    return (f"{platform.node()}: {os.cpu_count()} CPU cores, {int(memory) // 1024 // 1024} "
            f"GiB, Debian {debian}, kernel {platform.release()}, {out('sinfo', '-V')}, "
            f"Python {platform.python_version()}, commit {commit}")


def campaign_section(title: str, reference: kills.Reference,
                     cases: list[kills.KillCase], when: str) -> tuple[str, dict[str, object]]:
    passed = sum(c.passed for c in cases)
    failed = [c for c in cases if not c.passed]
    walls = [c.wall_s for c in cases]
    where = Counter(k.split(" after ")[-1] if " after " in k else "controller ended first"
                    for c in cases for k in c.kills)
    data: dict[str, object] = {
        "when": when, "tried": len(cases), "passed": passed,
        "failed": len(failed), "kills": sum(len(c.kills) for c in cases),
        "median_s": round(statistics.median(walls), 1) if walls else 0,
        "total_s": round(sum(walls)), "where": dict(where.most_common()),
    }
    lines = [f"### {title}", "",
             f"Run {when}. Reference: `{reference.decision[0]}` at step "
             f"{faults.DECISION_STEP}, {reference.duration_s:.1f} s "
             f"({reference.timeline_s:.1f} s with pauses capped at {kills.GAP_CAP_S} s: "
             f"the kill moments are drawn over that), {reference.lines} journal lines. "
             f"{data['kills']} kills over {len(cases)} searches "
             f"({sum(len(c.kills) == 2 for c in cases)} killed twice); median "
             f"{data['median_s']} s per case, {data['total_s']} s in all.", "",
             "Each case: the controller of a BYO search on SLURM (8 checkpoints 0.7 s apart, "
             "inference 1 s, the target first met at checkpoint 5) is killed with -9 at a "
             "stratified random moment, in 2 of 5 cases its rerun too, then the same command "
             "runs to the end. Passed means: the reference's decision (status, deciding trial "
             "and step), one `submit_intent` per key and per (kind, trial, step), exactly one "
             "training job and no job unknown to the journal in sacct (by job-name prefix), "
             "one sbatch per job name, one `evaluation` per (trial, step), every complete "
             "checkpoint up to the decision evaluated with its curve value (unless the "
             "controller cancelled that evaluation before it delivered, the decision having "
             "come first), nothing left in the queue, best/ holding the deciding checkpoint "
             "and no staging copy left.", "",
             "| cases tried | passed | failed |", "|---|---|---|",
             f"| {len(cases)} | {passed} | {len(failed)} |", "",
             "Where the kills landed (the last journal event before each): " +
             ", ".join(f"`{k}` {n}" for k, n in where.most_common()) + ".", ""]
    bad = [c for c in cases if not c.passed]
    if bad:
        lines += ["Cases that did not pass:", ""] + [f"- {c.line()}" for c in bad] + [""]
    return "\n".join(lines), data


def soak_from(previous: str) -> tuple[str, dict[str, object] | None]:
    """The soak section of an earlier RELIABILITY.md and its figures, to keep them across a
    plain run."""
    start = previous.find("<!-- soak-section -->")
    end = previous.find("<!-- /soak-section -->")
    if start < 0 or end < 0:
        return "", None
    section = previous[start:end + len("<!-- /soak-section -->")]
    mark = section.find(SOAK_MARK)
    data = json.loads(section[mark + len(SOAK_MARK):section.index(" -->", mark)])
    return section, data


def render(args: argparse.Namespace, started: datetime, wall_s: float,
           kills_text: str, soak: tuple[str, dict[str, object] | None],
           pytest_cases: list[Case], pytest_s: float,
           reference: kills.Reference, cases: list[kills.KillCase]) -> str:
    by_kind = _by_kind(pytest_cases)
    soak_text, soak_data = soak
    lines = _intro(args, started, wall_s, pytest_s)
    lines += _summary(by_kind, pytest_cases, cases, None if args.soak else soak_data)
    lines += [_time_taken(reference, cases, pytest_cases), ""]
    lines += ["## kill -9 of the controller at random points", "", kills_text, soak_text, ""]
    for kind, group in by_kind.items():
        lines += _kind_table(kind, group)
    lines += _bugs_and_failures(pytest_cases)
    lines += ["", "## Known limitations of these figures", "", LIMITATIONS]
    return "\n".join(lines)


def _by_kind(pytest_cases: list[Case]) -> dict[str, list[Case]]:
    """The cases of each fault kind that has any, in the order of KINDS."""
    by_kind: dict[str, list[Case]] = {}
    for case in pytest_cases:
        by_kind.setdefault(kind_of(case.name), []).append(case)
    return {kind: by_kind[kind] for kind in [k for k, _ in KINDS] + ["other"]
            if by_kind.get(kind)}


def _intro(args: argparse.Namespace, started: datetime, wall_s: float,
           pytest_s: float) -> list[str]:
    command = "python scripts/reliability.py" + (" --soak" if args.soak else "") + (
        f" --kills {args.kills}" if args.kills != 10 else "")
    return [
        "# Reliability: faults and bad input",
        "",
        "Generated by `python scripts/reliability.py` (this file is rewritten by it: edit the "
        "script, not the file). Regenerate with",
        "",
        "```bash",
        "scripts/local-slurm up    # as root on Debian 12",
        "HF_HUB_OFFLINE=1 .venv/bin/python scripts/reliability.py            # 10 random kills",
        "HF_HUB_OFFLINE=1 .venv/bin/python scripts/reliability.py --soak     # 100 random kills",
        "```",
        "",
        f"This run: `{command}`, started {started:%Y-%m-%d %H:%M} UTC, {wall_s / 60:.1f} min "
        f"in all (pytest part {pytest_s / 60:.1f} min).",
        f"Machine: {machine()}.",
        "",
        "The tests themselves: `tests/slurm/test_faults.py` (in CI: the exact kill points, "
        "slurmctld restarted, sacct failing, the node; in the reliability tier, out of CI: "
        "the random campaign with FAULTS_KILLS=6, slurmctld down, slurmdbd down) and "
        "`tests/e2e/test_bad_input.py`; helpers in `bench/cluster/faults.py` and "
        "`tests/support/badkit.py`. A case counts as passed when every assertion holds; a strict "
        "xfail test (an open controller bug, listed below) counts as tried, not passed.",
        "",
    ]


def _summary(by_kind: dict[str, list[Case]], pytest_cases: list[Case],
             cases: list[kills.KillCase], soak_data: dict[str, object] | None) -> list[str]:
    """The summary table: one row per fault kind, the last soak's row (if kept), the total."""
    campaign_passed = sum(c.passed for c in cases)
    lines = [
        "## Summary",
        "",
        "| fault kind | cases tried | cases passed | open bugs (xfail) |",
        "|---|---|---|---|",
        f"| kill -9 of the controller at random points (N={len(cases)}) | {len(cases)} | "
        f"{campaign_passed} | 0 |",
    ]
    if soak_data:
        lines.append(f"| kill -9 at random points, last soak ({soak_data['when']}) | "
                     f"{soak_data['tried']} | {soak_data['passed']} | 0 |")
    for kind, group in by_kind.items():
        lines.append(f"| {kind} | {len(group)} | "
                     f"{sum(c.outcome == 'passed' for c in group)} | "
                     f"{sum(c.outcome == 'xfail' for c in group)} |")
    total = len(cases) + len(pytest_cases)
    total_passed = campaign_passed + sum(c.outcome == "passed" for c in pytest_cases)
    xfail = sum(c.outcome == "xfail" for c in pytest_cases)
    return [*lines, f"| **all, this run** | **{total}** | **{total_passed}** | **{xfail}** |", ""]


def _time_taken(reference: kills.Reference, cases: list[kills.KillCase],
                pytest_cases: list[Case]) -> str:
    campaign_s = reference.duration_s + sum(c.wall_s for c in cases)
    faults_s = campaign_s + sum(c.seconds for c in pytest_cases if c.module == "test_faults")
    bad_s = sum(c.seconds for c in pytest_cases if c.module == "test_bad_input")
    return (f"Time these tests took here (CI and the reliability tier, whose campaign has "
            f"6 kills): `tests/slurm/test_faults.py` {faults_s / 60:.1f} min, of which the "
            f"{len(cases)}-kill campaign {campaign_s:.0f} s; `tests/e2e/test_bad_input.py` "
            f"{bad_s / 60:.1f} min.")


def _kind_table(kind: str, group: list[Case]) -> list[str]:
    lines = [f"## {kind}", "", "| case | result | s | what the controller did / why |",
             "|---|---|---|---|"]
    for case in group:
        result = {"passed": "passed", "failed": "**FAILED**", "xfail": "open bug (xfail)",
                  "skipped": "skipped"}[case.outcome]
        why = "; ".join([*case.notes, case.detail] if case.outcome != "passed"
                        else case.notes) or ""
        lines.append(f"| `{case.name}` | {result} | {case.seconds:.0f} | {_cell(why)} |")
    return [*lines, ""]


def _bugs_and_failures(pytest_cases: list[Case]) -> list[str]:
    bugs = [c for c in pytest_cases if c.outcome == "xfail"]
    lines = ["## Open controller bugs (strict xfail tests)", ""]
    lines += [f"- `{c.name}`: {c.detail}" for c in bugs] or ["- none"]
    failed = [c for c in pytest_cases if c.outcome == "failed"]
    if failed:
        lines += ["", "## Failures of this run", ""]
        lines += [f"- `{c.name}`: {_cell(c.detail)}" for c in failed]
    return lines


def _cell(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("|", "/")).strip()


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10, help="random kill cases (default 10)")
    parser.add_argument("--soak", action="store_true",
                        help=f"a soak: at least {SOAK_KILLS} random kill cases")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the searches run (default: a temporary folder)")
    parser.add_argument("--real-cluster", type=int, default=2, metavar="N",
                        help="runs per fault of the real-cluster table (default 2)")
    parser.add_argument("--real-cluster-only", action="store_true", help="keep the rest")
    parser.add_argument("--tests", action="store_true",
                        help="only the reliability tier (pytest -m reliability); keep the rest")
    return parser.parse_args()


def tests_only(out: Path, workdir: Path, started: datetime) -> int:
    """The reliability tier's tests; their section of `out` rewritten, the rest kept."""
    cases, seconds = tier.run(workdir, say)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()
    text = tier.section(cases, seconds, f"started {started:%Y-%m-%d %H:%M} UTC", commit)
    out.write_text(tier.splice(out.read_text() if out.exists() else "", text))
    say(f"wrote {out}")
    return 0 if cases and all(c.outcome in ("passed", "xfail") for c in cases) else 1


def main() -> int:
    args = arguments()
    kills = max(args.kills, SOAK_KILLS) if args.soak else args.kills
    started = datetime.now(timezone.utc)
    t0 = time.monotonic()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="reliability-"))
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"working in {workdir}")
    up = subprocess.run([str(daemons.LOCAL_SLURM), "up"], capture_output=True, text=True,
                        check=False)
    if up.returncode != 0:
        print(f"scripts/local-slurm up failed:\n{up.stdout}{up.stderr}", file=sys.stderr)
        return 2
    if args.tests:
        return tests_only(args.out, workdir / "tier", started)
    say(f"real cluster: {args.real_cluster} run(s) per fault")
    real = hostile.table(workdir / "hostile", args.real_cluster, f"{started:%Y-%m-%d}", say)
    if args.real_cluster_only:
        args.out.write_text(hostile.splice(args.out.read_text(), real))
        return 0
    say(f"kill -9 campaign: {kills} cases")
    reference, cases = campaign.run_campaign(workdir / "kills", kills, progress=say)
    when = f"{started:%Y-%m-%d}, N={kills}"
    title = f"Soak: {kills} kills" if args.soak else f"This run: {kills} kills"
    kills_text, data = campaign_section(title, reference, cases, when)
    previous = args.out.read_text() if args.out.exists() else ""
    soak: tuple[str, dict[str, object] | None] = ("", None)
    if args.soak:
        kills_text = (f"<!-- soak-section -->\n{kills_text}\n{SOAK_MARK}{json.dumps(data)} -->\n"
                      "<!-- /soak-section -->")
    else:
        soak = soak_from(previous)
        if not soak[0]:
            soak = (f"No soak (`--soak`, {SOAK_KILLS} kills) has been recorded yet.", None)
    waited = daemons.wait_for_benchmarks(say=say)
    if waited:
        say(f"waited {waited:.0f} s for benchmarks to end")
    try:
        pytest_cases, pytest_s = run_pytest(workdir)
    finally:
        daemons.restore_cluster()
    text = render(args, started, time.monotonic() - t0, kills_text, soak, pytest_cases,
                  pytest_s, reference, cases)
    args.out.write_text(tier.splice(hostile.splice(text, real), tier.kept(previous)))
    say(f"wrote {args.out}")
    bad = [c for c in cases if c.problems] + [c for c in pytest_cases if c.outcome == "failed"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
