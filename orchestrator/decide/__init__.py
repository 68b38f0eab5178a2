"""Decisions, as pure functions of what the controller knows (Ray Tune's `schedulers/` and
`search/`): the stop rule, pruning across trials, the policy for failures and retries, the
samplers of the search space, which checkpoints to delete (`retention`) and where evaluations
run (`placement`). The engine calls them and journals what they decide; nothing here journals,
polls or touches a file, so each is tested with tables.

Pure: yes (the Optuna sampler keeps its study in memory).
May import: model, config.settings, common.causes, common.layout.
"""
