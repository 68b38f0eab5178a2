"""The exit statuses of `orchestrator run` and `orchestrator status`, in one place.

Scripts and job arrays branch on them, so they are part of the interface: never renumber.
"""

from __future__ import annotations

TARGET_REACHED = 0  # a checkpoint reached search.target
NOT_REACHED = 1  # the search ended without reaching it (metric fell, trials exhausted)
USAGE = 2  # a usage or configuration error, or a submission refused before anything ran
FAILED = 3  # the search failed: jobs failed beyond their retries
RUNNING = 4  # status: a live controller is running the search
INTERRUPTED = 5  # status: unfinished and no controller alive; rerun the command to resume
CANCELLED = 6  # the search was ended by `orchestrator cancel`
CRASHED = 7  # the controller stopped on an unexpected error (a bug); rerun to resume
KEYBOARD_INTERRUPT = 130  # Ctrl-C (128 + SIGINT)

_OF_STATUS = {"target_reached": TARGET_REACHED, "metric_fell": NOT_REACHED,
              "exhausted": NOT_REACHED, "failed": FAILED,
              "cancelled": CANCELLED}


# what each status means, as the subcommands' --help lists them
MEANINGS = {
    TARGET_REACHED: "the target was reached",
    NOT_REACHED: "the search ended without reaching it (metric fell, trials exhausted)",
    USAGE: "usage error, or DIR is not a search folder",
    FAILED: "the search failed (jobs failed beyond their retries)",
    RUNNING: "a controller is running the search (or its detached job is pending or starting)",
    INTERRUPTED: "unfinished and no controller alive; run the same command again to resume",
    CANCELLED: "the search was cancelled (`orchestrator cancel`)",
    CRASHED: "the controller crashed (an unexpected error, a bug: please report its "
             "traceback); run the same command again to resume",
    KEYBOARD_INTERRUPT: "interrupted (Ctrl-C)",
}


# the statuses of a search that ended: a detached controller's job that exits with another
# (a crash, an interruption) did not end the search
SEARCH_ENDED = (TARGET_REACHED, NOT_REACHED, FAILED, CANCELLED)


def help_text(codes: tuple[int, ...]) -> str:
    """`exit status:` and one line per code, for a subcommand's --help epilog."""
    return "exit status:\n" + "".join(f"  {c:<4} {MEANINGS[c]}\n" for c in codes)


def of_status(status: str) -> int:
    """The exit status of an ended search (summary.json's `status`); an unknown one failed."""
    return _OF_STATUS.get(status, FAILED)
