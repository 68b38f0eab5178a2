#!/usr/bin/env bash
# Create .venv with the controller, the jobs' ML stack and the dev tools.
# On a machine without a GPU this installs the CPU build of torch FIRST (TORCH_SPEC,
# default torch==2.13.0): any other order lets pip pull several GB of CUDA packages.
# On a cluster, bring your own torch and run: pip install -e '.[jobs]'
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
t0=$(date +%s)
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
  .venv/bin/pip install -q "$TORCH_SPEC" 2>&1 | grep -v '^WARNING: Location' || true
fi
# -qq: recent pip (26.3 here) shows the build backend's warnings, and setuptools warns at
# length about every editable install ("Editable installation. ... Please be careful with
# folders..."); errors still show, and the import check below catches a broken install
.venv/bin/pip install -qq -e '.[jobs,dev,optuna,lora]' 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -c 'import torch, transformers, submitit, hydra' \
  || { echo "install.sh: the environment is incomplete (see pip's output above)" >&2; exit 1; }
echo "install.sh: .venv ready in $(( $(date +%s) - t0 )) s"
