"""Secrets kept out of what the controller writes (common.redact), files that honour the
umask, the private search folder (common.fsutil), and the journal, lock holder and
notification that go through them. The whole search: tests/e2e/test_secrets.py."""

from __future__ import annotations

import json
import os
import random
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest

from orchestrator.common import fsutil, layout, redact
from orchestrator.common.redact import MASK, recorded
from orchestrator.engine import notify
from orchestrator.journal.jsonl import Journal, read_events
from orchestrator.journal.lock import SearchLock
from orchestrator.model.events import JobFailed, Notified, SearchStarted
from tests.support.fake_cluster import settings_for

SECRET = "s3cr3t-Xy9-value"


@pytest.mark.parametrize(("given", "written"), [
    # names that look secret, in every spelling a setup line or an override has
    (f"export HF_TOKEN={SECRET}", f"export HF_TOKEN={MASK}"),
    (f"export WANDB_API_KEY='{SECRET}'", f"export WANDB_API_KEY={MASK}"),
    (f'AWS_SECRET_ACCESS_KEY="{SECRET}" python t.py', f"AWS_SECRET_ACCESS_KEY={MASK} python t.py"),
    (f"export DB_PASSWORD={SECRET}; module load x", f"export DB_PASSWORD={MASK}; module load x"),
    (f"PGPASSWD={SECRET}", f"PGPASSWD={MASK}"),
    (f"password: {SECRET}", f"password: {MASK}"),
    (f"run --hf-token {SECRET} --fast", f"run --hf-token {MASK} --fast"),
    (f"run --apiKey={SECRET}", f"run --apiKey={MASK}"),
    (f"executor.train.additional.api_key={SECRET}", f"executor.train.additional.api_key={MASK}"),
    # credentials in URLs, headers, query strings, webhooks, well-known token shapes
    (f"git clone https://user:{SECRET}@git.example.com/r.git",
     f"git clone https://{MASK}@git.example.com/r.git"),
    (f"pip install -i https://{SECRET}@pypi.example.com/simple x",
     f"pip install -i https://{MASK}@pypi.example.com/simple x"),
    (f"Authorization: Bearer {SECRET}", f"Authorization: {MASK}"),
    (f"curl -H 'X-Api-Key: {SECRET}' https://h", f"curl -H 'X-Api-Key: {MASK}' https://h"),
    (f"sent with Bearer {SECRET}", f"sent with Bearer {MASK}"),
    (f"https://h.example.com/hook?access_token={SECRET}&room=1",
     f"https://h.example.com/hook?access_token={MASK}&room=1"),
    (f"https://hooks.slack.com/services/T000/B000/{SECRET}",
     f"https://hooks.slack.com/services/{MASK}"),
    ("token hf_abcdefghijklmnopqrstuvwxyz0123", f"token {MASK}"),
    ("ghp_abcdefghijklmnopqrstuvwxyz0123456789 leaked", f"{MASK} leaked"),
    # what is not a secret stays as it was
    ("module load cuda/12.1", "module load cuda/12.1"),
    ("export HF_HOME=/scratch/hf", "export HF_HOME=/scratch/hf"),
    ("data.text_column=text train.learning_rate=1e-5", "data.text_column=text "
                                                      "train.learning_rate=1e-5"),
    ("the token expired", "the token expired"),
    ("monkey=3 keyboard=us", "monkey=3 keyboard=us"),
    ("/scratch/runs/search/trials/001/checkpoint-500", "/scratch/runs/search/trials/001/"
                                                       "checkpoint-500"),
    ("https://huggingface.co/bert-base-uncased", "https://huggingface.co/bert-base-uncased"),
    ("", ""),
])
def test_text(given: str, written: str) -> None:
    assert redact.text(given) == written
    assert redact.text(written) == written  # idempotent: redacting twice changes nothing


# pieces of every pattern's matches, in several cases, and of harmless text between them
PIECES = ("export ", "HF_TOKEN", "Api-Key", "=", ": ", " ", "--", "https://", "user:",
          "@h.example.com/", "Bearer ", "AUTHORIZATION", "Cookie", "hf_", "GHP_", "ghs_",
          "github_pat_", "xoxb-", "sk-", "AKIA", "glpat-", "hooks.slack.com/services/",
          "discordapp.com/api/webhooks/", "webhook.office.com/webhookb2/", SECRET,
          "ABCDEFGHIJKLMNOPQRST0123456789", "/scratch/run", "checkpoint-500", "'", '"', ";",
          "passwd", "PgPassWd", "signature", "monkey", "pwd", "credentials")


@pytest.mark.parametrize("seed", range(8))
def test_the_quick_test_skips_only_text_no_pattern_would_change(seed: int) -> None:
    """`text` skips the substitutions for a string none of them could match (issue 25:
    the journal's many paths and ids); they must agree on everything, secrets included."""
    rng = random.Random(seed)
    for _ in range(500):
        given = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 8)))
        assert redact.text(given) == redact._substituted(given), given


@pytest.mark.parametrize(("given", "written"), [
    ({"api_key": SECRET, "token": 12345, "partition": "gpu"},
     {"api_key": MASK, "token": MASK, "partition": "gpu"}),
    ({"password": "", "secret_enabled": True}, {"password": "", "secret_enabled": True}),
    ({"setup": [f"export HF_TOKEN={SECRET}", "module load x"]},
     {"setup": [f"export HF_TOKEN={MASK}", "module load x"]}),
    ({"notify": ("curl", "--token", SECRET, "{status}")},
     {"notify": ["curl", "--token", MASK, "{status}"]}),
    ({"nested": {"credentials": {"user": "u", "pass": SECRET}}},
     {"nested": {"credentials": {"user": "u", "pass": SECRET}}}),  # only scalars are masked
])
def test_config(given: dict[str, Any], written: dict[str, Any]) -> None:
    assert redact.config(given) == written


def test_the_default_settings_hold_nothing_to_redact(tmp_path: Path) -> None:
    tree = asdict(settings_for(tmp_path))
    assert recorded(tree) == json.loads(json.dumps(tree, default=list))


def test_the_journal_keeps_settings_and_text_redacted_and_replays_what_it_applied(
        tmp_path: Path) -> None:
    settings = settings_for(tmp_path, notify=("curl", f"https://x/hook?token={SECRET}"))
    settings = replace(settings, executor=replace(
        settings.executor, setup=(f"export HF_TOKEN={SECRET}",)))
    journal = Journal(tmp_path / "journal.jsonl")
    started = journal.append(SearchStarted(settings=recorded(settings)))
    failed = journal.append(JobFailed(key="train-t001-a0", job_id="1", cause="other",
                                      reason=f"403 for https://u:{SECRET}@h/x"))
    journal.close()
    assert SECRET not in (tmp_path / "journal.jsonl").read_text()
    assert isinstance(failed, JobFailed) and failed.reason == f"403 for https://{MASK}@h/x"
    assert read_events(tmp_path / "journal.jsonl")[0] == [started, failed]
    # a rerun with the same secret is the same search; the real value is what jobs get
    replayed = read_events(tmp_path / "journal.jsonl")[0][0]
    assert isinstance(replayed, SearchStarted)
    assert recorded(settings) == recorded(replayed.settings)
    assert settings.executor.setup == (f"export HF_TOKEN={SECRET}",)


def test_notify_runs_with_the_secret_and_journals_it_redacted(tmp_path: Path) -> None:
    sink = tmp_path / "sink"
    argv = (sys.executable, "-c", f"open({str(sink)!r}, 'w').write(__import__('sys').argv[1])",
            f"https://x/hook?token={SECRET}&s={{status}}")
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append("search_ended", status="target_reached", reason="")
    notify.notify_once(argv, journal, {"status": "target_reached"}, tmp_path)
    journal.close()
    assert sink.read_text() == f"https://x/hook?token={SECRET}&s=target_reached"
    notified = [e for e in journal.events if isinstance(e, Notified)]
    assert notified and notified[0].argv[-1] == f"https://x/hook?token={MASK}&s=target_reached"
    assert SECRET not in (tmp_path / "journal.jsonl").read_text()


def test_notify_with_only_the_journals_redacted_words_waits_for_the_real_command(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append("search_ended", status="cancelled", reason="")
    notify.notify_once(("curl", f"https://x/hook?token={MASK}"), journal,
                       {"status": "cancelled"}, tmp_path)
    journal.close()
    assert not any(isinstance(e, Notified) for e in journal.events)  # due again next run
    assert "search.notify holds a redacted secret" in capsys.readouterr().err


def test_the_lock_holder_keeps_argv_redacted(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["orchestrator", "run", "--api-token", SECRET,
                                      f"executor.setup=[export HF_TOKEN={SECRET}]"])
    with SearchLock(tmp_path / "s"):
        holder = layout.holder_path(tmp_path / "s").read_text()
    assert SECRET not in holder and json.loads(holder)["argv"][3] == MASK


# ---------------------------------------------------------------- modes
@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("mask", "shared", "dir_mode", "file_mode"), [
    (0o077, False, 0o700, 0o600),
    (0o022, False, 0o700, 0o644),
    (0o002, False, 0o700, 0o664),
    (0o022, True, 0o755, 0o644),
    (0o007, True, 0o770, 0o660),
])
def test_the_search_folder_is_private_unless_shared_and_files_honour_the_umask(
        tmp_path: Path, mask: int, shared: bool, dir_mode: int, file_mode: int) -> None:
    search = tmp_path / "deep" / "s"
    with umask(mask):
        assert fsutil.umask() == mask
        with SearchLock(search, shared=shared):
            journal = Journal(layout.journal_path(search))
            journal.append("heartbeat")
            journal.close()
            fsutil.atomic_write_json(layout.summary_path(search), {"a": 1})
    assert mode(search) == dir_mode
    for path in (layout.journal_path(search), layout.summary_path(search),
                 layout.holder_path(search)):
        assert mode(path) == file_mode, path


def test_an_existing_folder_keeps_its_mode(tmp_path: Path) -> None:
    search = tmp_path / "s"
    search.mkdir(mode=0o750)
    os.chmod(search, 0o750)
    fsutil.make_search_dir(search)
    assert mode(search) == 0o750
