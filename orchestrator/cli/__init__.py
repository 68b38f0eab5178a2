"""The `orchestrator` command: `main` builds the parser from the command modules and
dispatches; one module per command (`cmd_run`, `cmd_status`, `cmd_report`, `cmd_watch`,
`cmd_cancel`, `cmd_ls`, `cmd_clean`), each with `HELP`, `add_arguments(parser)` and
`run(args) -> int`.

May import: common, config, model, journal, decide, engine, reporting, view.
"""
