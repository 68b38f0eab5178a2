"""Side-by-side benchmark of the controller against the hand-written legacy loop.

`python -m bench` (or `python -m bench --quick`) runs everything on the real local SLURM
cluster and regenerates BENCHMARKS.md and bench/results.json. See BENCHMARKS.md for what is
measured and how. Like the controller, the bench process itself never imports torch: the
few measurements that need the ML stack run in child processes (bench.phases.infer_probe,
and the SLURM jobs themselves).

Three packages, imported in one direction only (page -> phases -> cluster):
- `cluster`: the local SLURM cluster as the bench, the tests and scripts/reliability.py drive
  it (scheduler commands, held and tenant jobs, fault injection and the kill -9 campaign);
- `phases`: what each phase runs and measures, and the runner that runs them in order;
- `page`: results.json and BENCHMARKS.md, filled from it (the text is
  bench/page/BENCHMARKS.md.in; bench.page only computes what fills it).
`__main__` wires them together. Nothing here imports tests/: tests/support builds on
bench.cluster, never the other way round.
"""
