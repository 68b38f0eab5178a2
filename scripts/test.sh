#!/usr/bin/env bash
# Install everything, start the local SLURM cluster, run the whole test suite.
# As root on Debian 12 the cluster is installed and started by scripts/local-slurm; elsewhere
# the SLURM tests skip with the reason (and fail under CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
# Debian's chromium, the headless browser that tests/e2e/test_report_html.py opens report.html
# in (the tests need it, a search does not). Only as root on Debian; elsewhere that test is
# skipped with the reason (and fails under CI=true).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
      || { apt-get update -qq >/dev/null && \
           DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
      || echo "test.sh: chromium not installed (apt-get failed); the browser test skips" >&2
  else
    echo "test.sh: chromium not installed (needs root on Debian); the browser test skips"
  fi
fi
if [ "$(id -u)" -eq 0 ] && [ -f /etc/debian_version ]; then
  bash scripts/local-slurm up
else
  echo "test.sh: not root on Debian: the SLURM tests will be skipped"
fi
export HF_HUB_OFFLINE=1 TQDM_DISABLE=1
.venv/bin/ruff check orchestrator jobs tests bench scripts
.venv/bin/mypy
# two workers (pytest-xdist): the SLURM tier runs whole on one, in order, the rest beside it
# on the other (tests/support/workers.py): about half the time of one worker on 2 cores
.venv/bin/python -m pytest -q -ra --durations=25 -n "${PYTEST_WORKERS:-2}" "$@"
# The other SLURM release (24.11 on Debian 12, 22.05 on Debian 13) in its own root and
# namespaces: the smoke subset (scripts/local-slurm.md). Only for the whole suite (no args).
if [ $# -eq 0 ] && [ "$(id -u)" -eq 0 ] && [ -f /etc/debian_version ]; then
  bash scripts/slurm-release smoke
  bash scripts/slurm-release down
fi
