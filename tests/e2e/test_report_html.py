"""report.html from a real search (the built-in jobs on the debug executor), opened in a real
headless browser: self-contained, renders without console errors, and is not blank."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestrator.common import layout
from tests.support.browser import inked_fraction, open_page
from tests.support.cli import cli
from tests.support.journal import events

pytestmark = pytest.mark.e2e

SEARCH = ["executor=debug", "data=synthetic", "model=tiny", "train.max_steps=100",
          "train.save_steps=50", "train.eval_steps=50", "data.synthetic_train_size=1000",
          "data.synthetic_test_size=500", "search.target=0.99", "report.x=examples"]


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("html") / "search"
    done = cli("run", *SEARCH, f"search.dir={directory}", "--plain", timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr  # the target is out of reach
    assert "html: " in done.stdout
    return directory


def test_report_html_is_one_self_contained_file(searched: Path) -> None:
    text = (searched / "report.html").read_text()
    # nothing fetched: figures inline (base64 PNG, SVG), no script or stylesheet files
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", text)
    assert "<script" not in text and "<link" not in text
    assert text.count("data:image/png;base64,") == 2  # the metric, and the curves
    for words in ("Confusion matrix: counts", "row percentages", "<svg", "Job-hours used",
                  "infer-t001-s00000050-a0", "CPU", "accuracy fell",
                  "x axis: examples seen (report.x=examples)", "trial 1: 32"):
        assert words in text, words


def test_the_curves_outlive_the_checkpoints_retention_deleted(searched: Path) -> None:
    """search.keep=1 deleted checkpoint-100 (accuracy fell there): the training curves still
    go to step 100, from the trial folder's log_history.json."""
    deleted = {e["step"] for e in events(searched) if e["event"] == "deleted"}
    assert 100 in deleted
    assert not (layout.trial_dir(searched, 1) / "checkpoint-100").exists()
    text = (searched / "report.html").read_text()
    assert re.search(r"trial 1: \d+ log entries, steps \d+ to 100\b", text), text[-3000:]


def test_report_html_renders_in_chromium_without_errors(searched: Path, tmp_path: Path) -> None:
    dom, troubles = open_page(searched / "report.html", tmp_path / "shot.png")
    assert troubles == []
    assert dom.count("<table") >= 6 and "<svg" in dom and "Search report" in dom
    assert inked_fraction(tmp_path / "shot.png") > 0.02


def test_the_browser_check_sees_a_broken_page(tmp_path: Path) -> None:
    """The check above can fail: a page with a script error and a missing image is caught."""
    page = tmp_path / "broken.html"
    page.write_text("<html><body><img src='missing.png'><script>nosuch();</script>"
                    "</body></html>")
    _, troubles = open_page(page, tmp_path / "broken.png")
    assert troubles
    assert inked_fraction(tmp_path / "broken.png") < 0.02  # blank


def test_orchestrator_report_rewrites_it(searched: Path) -> None:
    (searched / "report.html").unlink()
    done = cli("report", str(searched), "--x", "step")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"html: {searched / 'report.html'}" in done.stdout
    text = (searched / "report.html").read_text()
    assert "Confusion matrix" in text and "x axis: the training step" in text
