#!/usr/bin/env bash
# Install everything, start the local SLURM cluster, run the whole test suite.
# As root on Debian 12 the cluster is installed and started by scripts/local-slurm; elsewhere
# the SLURM tests skip with the reason (and fail under CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
if [ "$(id -u)" -eq 0 ] && [ -f /etc/debian_version ]; then
  bash scripts/local-slurm up
else
  echo "test.sh: not root on Debian: the SLURM tests will be skipped"
fi
export HF_HUB_OFFLINE=1 TQDM_DISABLE=1
.venv/bin/ruff check orchestrator jobs tests bench scripts
.venv/bin/mypy
.venv/bin/python -m pytest -q -ra "$@"
