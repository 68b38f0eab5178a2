"""A real headless browser (Debian's chromium) to open a report as a person would."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
         "--no-first-run", "--disable-extensions")
# what chromium's log says of a page's console errors and failed loads
PAGE_TROUBLE = ("CONSOLE", "Uncaught", "net::ERR", "Failed to load", "Refused to")


def chromium() -> str:
    """chromium's path; the test is skipped without it, or FAILS when CI=true."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "chromium is not installed (scripts/install.sh installs it as root on Debian)"
        if os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}:
            pytest.fail(f"{message} (CI=true: the browser test must run, not skip)")
        pytest.skip(message)
    return path


def open_page(page: Path, shot: Path) -> tuple[str, list[str]]:
    """The page's DOM after rendering, and the log lines about the page's own troubles;
    `shot` gets a screenshot."""
    url = page.resolve().as_uri()
    dom = subprocess.run([chromium(), *FLAGS, "--dump-dom", url], capture_output=True,
                         text=True, timeout=120, check=True)
    subprocess.run([chromium(), *FLAGS, "--window-size=1280,2400", f"--screenshot={shot}",
                    url], capture_output=True, text=True, timeout=120, check=True)
    troubles = [line for line in (dom.stderr.splitlines())
                if any(word in line for word in PAGE_TROUBLE)]
    return dom.stdout, troubles


def inked_fraction(png: Path) -> float:
    """The fraction of a screenshot's pixels that are not white."""
    from PIL import Image

    with Image.open(png) as image:
        counts = image.convert("L").histogram()  # pixels per grey level, 0 (black) to 255
    return sum(counts[:245]) / max(1, sum(counts))
