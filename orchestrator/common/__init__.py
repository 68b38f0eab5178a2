"""What the controller and the jobs share: the search folder's layout and the files both sides
write and read.

`layout` derives every path, file name and job name of a search folder (the one place such a
name is spelt), `fsutil` writes files atomically, `checkpoints` says which checkpoints are
complete, `causes` and `failures` carry why a job failed from the job to the controller, and
`labels` is the one rule that turns a raw label into a class index, `liveness` the one rule by
which a job judges its controller gone (search.orphan_grace_s); `redact` keeps secrets out
of what the controller writes for people and records. The jobs import these on
compute nodes, so they stay light: standard library only, besides the settings.

May import: config.settings.
"""
