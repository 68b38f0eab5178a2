"""A secret in the configuration never reaches what the controller writes (issue 22, item 7):
a whole local search with a token from `${oc.env:...}` in setup lines, in a URL's
credentials and in search.notify's webhook, under umask 077 and 022; every file of the
search folder, and what `run`, `status` and `report` print, is searched for it. The
notification itself runs with the real token. Unit tests: tests/unit/test_redact.py."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from orchestrator.common import layout
from tests.support import badkit as bk
from tests.support.cli import PY, cli

pytestmark = pytest.mark.e2e

SECRET = "hf_e2eSecretValue0123456789abcdef"


def _search(directory: Path, sink: Path, shared: bool) -> list[str]:
    append = f"import sys; open({str(sink)!r}, 'a').write(sys.argv[1] + chr(10))"
    notify = json.dumps([PY, "-c", append, "https://hooks.example.com/s?token=${oc.env:T}"])
    setup = json.dumps(["export HF_TOKEN=${oc.env:T}",
                        "pip download -i https://me:${oc.env:T}@pypi.example.com/simple x"])
    return bk.search(directory, extra=(f"search.notify={notify}", f"executor.setup={setup}",
                                       f"search.shared={str(shared).lower()}"))


@pytest.mark.parametrize(("mask", "shared", "dir_mode", "file_mode"), [
    (0o077, False, 0o700, 0o600),
    (0o022, False, 0o700, 0o644),
    (0o022, True, 0o755, 0o644),
])
def test_no_file_of_the_search_holds_the_secret_and_modes_follow_the_umask(
        tmp_path: Path, mask: int, shared: bool, dir_mode: int, file_mode: int) -> None:
    directory, sink = tmp_path / "s", tmp_path / "notified.txt"
    old = os.umask(mask)  # the CLI's processes inherit it
    try:
        done = cli(*_search(directory, sink, shared), env={"T": SECRET}, timeout=300)
        printed = [done.stdout, done.stderr]
        for command in ("status", "report"):
            shown = cli(command, str(directory), timeout=120)
            printed += [shown.stdout, shown.stderr]
    finally:
        os.umask(old)
    assert done.returncode == 0, done.stderr
    assert sink.read_text() == f"https://hooks.example.com/s?token={SECRET}\n"  # the real one
    leaks = [str(p) for p in directory.rglob("*")
             if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaks == [] and not any(SECRET in text for text in printed), leaks
    journal = layout.journal_path(directory).read_text()
    assert "export HF_TOKEN=***" in journal and "https://***@pypi.example.com" in journal
    assert "token=***" in journal  # the notification, journaled redacted
    assert stat.S_IMODE(directory.stat().st_mode) == dir_mode
    for name in ("journal.jsonl", "summary.json", "report.md", "report.html"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == file_mode, name
