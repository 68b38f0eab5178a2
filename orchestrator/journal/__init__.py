"""The journal on disk and who may write it: the append-only JSON-lines file (`jsonl`, fsync'ed
before the controller acts on an entry) and the search folder's lock (`lock`).

May import: model, common.fsutil.
"""
