#!/bin/bash
# A users' inference script: run_inf.sh <checkpoint> [result.json]. Prints the three legacy
# lines the orchestrator's infer.metric_regex reads (accuracy in percent):
#   length of dataset is N
#   The generation accuracy is X %.
#   Total inference time is S sec.
# TEST_FILE=<csv/jsonl> evaluates your own test split; without it, the synthetic test set
# that the training job generated next to the search's trials is used.
set -euo pipefail
checkpoint=$1
result=${2:-$checkpoint/inference.json}
assets=$(dirname "$(dirname "$(dirname "$checkpoint")")")/assets
args=(--checkpoint "$checkpoint" --result "$result" --cache-dir "$assets" --max-length 32)
if [ -n "${TEST_FILE:-}" ]; then args+=(--data-file "$TEST_FILE"); fi
exec "${ORCHESTRATOR_PYTHON:-python}" -m jobs.infer "${args[@]}"
