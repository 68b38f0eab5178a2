"""The local SLURM cluster as the bench, the tests and scripts/reliability.py drive it; imports
nothing else from bench/ and nothing from tests/ (tests/support builds on it).

- `slurmtools`: scheduler commands (sacct/squeue views, cancel, counted PATH wrappers);
- `journal`: a search's journal read as plain json (a torn last line skipped);
- `tracked`: many held jobs and a journal that tracks them (the rss, sched, footprint phases);
- `tenants`: other users' jobs that keep the node's slots full (the busy phase);
- `faults`: searches on the users' fake scripts, scheduler-call wrappers that stall at an
  exact point, the invariants every faulted search must keep, and `wait_for`;
- `daemons`: slurmctld/slurmdbd/node faults and putting the cluster back;
- `kills`, `detached_kills`, `campaign`: the kill -9 campaign's reference run and cases.
"""
