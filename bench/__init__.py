"""Side-by-side benchmark of the controller against the hand-written legacy loop.

`python -m bench` (or `python -m bench --quick`) runs everything on the real local SLURM
cluster and regenerates BENCHMARKS.md and bench/results.json. See BENCHMARKS.md for what is
measured and how. Like the controller, the bench process itself never imports torch: the
few measurements that need the ML stack run in child processes (bench.infer_probe, and the
SLURM jobs themselves).

The page's text is bench/BENCHMARKS.md.in (bench.page only computes what fills it). Nothing
here imports tests/: bench.faults (the kill -9 campaign and the daemon/node faults) serves
scripts/reliability.py as well as tests/slurm/test_faults.py, and tests/support builds on
bench.slurmtools, never the other way round.
"""
