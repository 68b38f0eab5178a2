"""What a search leaves for people: the promoted best checkpoint and summary.json, report.md and
metric.png (`outcome`), report.html (`report_data`, `report_html`), the controller's TensorBoard
scalars (`tensorboard_events`), and `files`, which writes all of them at once.

May import: common, model, decide.stop_rule.
"""
