"""`orchestrator cancel DIR`, the command's side (the protocol: engine.cancel_request)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from orchestrator import exit_codes
from orchestrator.engine.cancel_request import write_request
from orchestrator.errors import SearchLocked
from orchestrator.journal import search_folder

HELP = ("end a running search: its controller (or this command, when none is alive) cancels "
        f"every job and writes the outcome with status cancelled (exit {exit_codes.CANCELLED})")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path)
    parser.add_argument("--wait", type=float, default=600.0,
                        help="seconds to wait for a live controller to finish (default 600; "
                        f"then exit {exit_codes.RUNNING}: it was asked and is still ending)")


def run(args: argparse.Namespace) -> int:
    text, code = cancel(args.dir, args.wait)
    print(text, end="")
    return code


def cancel(search_dir: Path, wait_s: float, poll_s: float = 1.0) -> tuple[str, int]:
    """`orchestrator cancel`: the text to print and the exit code (CANCELLED once it is
    done; an ended search keeps its own; RUNNING when a live controller has not finished
    within `wait_s`)."""
    from orchestrator.engine import run as engine
    from orchestrator.view.live import PlainView

    state = search_folder.replay(search_dir).state
    if state.finished is not None:
        return (f"the search already ended ({state.finished.status}); nothing to cancel\n",
                exit_codes.of_status(state.finished.status.value))
    write_request(search_dir)
    deadline = time.monotonic() + wait_s
    told = False
    while True:
        done = search_folder.ended(search_dir)
        if done is not None:
            return f"status: {done}\n", exit_codes.of_status(done)
        try:  # none alive: this process is the controller
            status = engine.carry_out(search_dir, PlainView())
            return f"status: {status}\n", exit_codes.of_status(status)
        except SearchLocked:
            pass  # a live controller holds the search: it will find the request
        if not told:
            print("a live controller runs the search: asked it to cancel; waiting for it "
                  "to end", flush=True)
            told = True
        if time.monotonic() >= deadline:
            return (f"the controller was asked to cancel and has not ended yet; follow it "
                    f"with `orchestrator watch {search_dir}`\n", exit_codes.RUNNING)
        time.sleep(poll_s)

