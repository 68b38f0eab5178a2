"""The machine's processes as Linux's /proc lists them: a local job's process group, and
what a process started. Standard library only: jobs use it as well as the controller."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


def _stats() -> Iterator[tuple[int, list[str]]]:
    """(pid, the fields of /proc/<pid>/stat after the command's name) of every process."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue  # it ended while listed
        yield int(entry.name), fields


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of process group `pgid`: a local job and everything
    it started, since the job's own session made its first process the group's leader."""
    return [pid for pid, fields in _stats() if fields[0] != "Z" and int(fields[2]) == pgid]


def descendants(pid: int) -> list[int]:
    """The live processes `pid` started, and those they started, down the whole tree."""
    children: dict[int, list[int]] = {}
    for child, fields in _stats():
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
