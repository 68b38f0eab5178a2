"""What `python -m bench` measures, one module per phase or family of phases, and the runner
(`runner`: the plan and the phases in order). Imports bench.cluster, never bench.page.

- `scenario`: the standard scenario (ours, the legacy loop at its poll and at ours) and what
  every phase uses to launch and read a run; `legacy_loop` and `legacy_jobs` are the legacy
  loop and its training entry, run as child processes (`python -m bench.phases.legacy_loop`);
- `measure`: infer, sched, rss, resume, start (with the child probes `infer_probe` and
  `sched_probe`);
- `disk`, `footprint`, `busy` (busy and placements), `bertbase`: one phase each.
"""
