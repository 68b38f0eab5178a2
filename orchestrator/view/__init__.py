"""What a person sees while a search runs: the live rich view or one line per event (`live`), its
screen (`dashboard`), and the running trials' progress files read back (`progress_reader`).

May import: common, model.
"""
