"""The `orchestrator` command: `main` parses and dispatches; one module per command that works
on a search from outside its controller (`cmd_watch`, `cmd_cancel`, `cmd_ls`, `cmd_clean`).

May import: common, config, model, journal, decide, engine, view.
"""
