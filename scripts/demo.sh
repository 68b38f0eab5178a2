#!/usr/bin/env bash
# Install, then run a whole search locally: a tiny BERT on synthetic data, local executor,
# offline. Run it again: a finished search says "already finished" and prints its outcome.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export HF_HUB_OFFLINE=1 TQDM_DISABLE=1
set +e
.venv/bin/orchestrator run executor=local data=synthetic model=tiny search.target=0.80 \
  search.dir="${DEMO_DIR:-runs/demo}" "$@"
code=$?
set -e
.venv/bin/orchestrator status "${DEMO_DIR:-runs/demo}" || true  # its exit code is the run's
exit $code
