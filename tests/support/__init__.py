"""What the tests share, one module per concern (plain functions; fixtures stay in conftest.py):

- `cli`: run the real CLI in a subprocess, as a user would (to its end, or in the background);
- `journal`: read what a search left (journal events, summary.json, its decision), and
  `typed`: hand-written event dicts decoded as the controller's fold reads them;
- `slurm`: scheduler commands (the local cluster, sacct/squeue views, PATH wrappers that log or
  refuse every scheduler call);
- `searches`: the argument lists of the standard searches (users' scripts, tiny model);
- `config_errors`: the shape of configuration errors on stderr;
- `job_settings`: settings for the short real training runs of tests/jobs;
- `fake_cluster`: the controller's logic tests' in-memory scheduler (FakeScheduler) and the
  World that plays its jobs on a script of ticks;
- `local_job`: a test run as if inside a submitit local job;
- `badkit`: searches with users' scripts that misbehave on purpose (tests/e2e's bad input,
  exit codes and outside commands), itself such a script when run.

Everything that also serves bench/ or scripts/ lives there (bench.cluster: slurmtools, faults,
daemons), never here: those import nothing from tests/.
"""
