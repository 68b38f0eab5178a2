"""The controller: train, evaluate every checkpoint, stop when it is good enough.

Theory of operation. `orchestrator run` (cli -> app) composes and checks the configuration
(config, overrides, validate, shape, preflight, admission) into typed `settings`, takes the
search folder's lock and opens its journal. The `Controller` then loops: observe (one
batched scheduler poll, then the file system: checkpoints, plans, results), decide (the
pure stop rule, pruning and policy), act (cancel, submit through `submissions`). Every fact
and decision is a typed event (`events`), appended to the journal (fsync'ed) before it is
applied to the state (`state`, a fold of the events), so a rerun rebuilds exactly what a
killed controller knew. Only `orchestrator.scheduler` talks to submitit and SLURM; the
paths and names the jobs share with the controller are in `layout`. Nothing here imports
torch, transformers or datasets: the controller runs on login nodes and starts in well
under a second (tests/unit/test_light_controller.py).
"""

__version__ = "0.1.0"  # keep equal to pyproject.toml's; read when not installed
