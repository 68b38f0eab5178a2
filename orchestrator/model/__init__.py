"""What the controller knows, as values: the journal's events, the transition tables, and the
fold of the events into the search's state, with what is derived from it.

`events` is the closed set of journal entries (one frozen dataclass per kind), `transitions`
holds every state machine (a job's lifecycle; how training, a trial and the search end),
`state` folds the events into `SearchState` (`memo`: what is derived from it, once a
version), `ledger` folds retention's events, and `usage`, `trials_table` and `progress`
derive what people are shown. Nothing here does I/O or reads a
clock: a replay decides what the original run decided.

Pure: yes.
May import: scheduler.interface.
"""
