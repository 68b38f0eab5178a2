"""The journal on disk and who may write it: the append-only JSON-lines file (`jsonl`, fsync'ed
before the controller acts on an entry); the controller's lease and the rule that says
whether its holder is alive (`lease`), taken with flock where it works (`lock`); and the
search folder read from outside its controller: its replay and whether a
controller is alive (`search_folder`).

May import: model, common.fsutil, common.layout, common.liveness, common.redact, decide.stop_rule.
"""
