#!/bin/bash
# A users' training script, the shape legacy-loop.md describes: run_train.sh <model> <output-dir>.
# With the orchestrator (bring-your-own mode, run as a SLURM job, never through a shell):
#   orchestrator run executor=slurm search.target=80 \
#     train.command='bash sbatch_templates/run_train.sh {model} {output_dir} model=tiny' \
#     infer.command='bash sbatch_templates/run_inf.sh {checkpoint} {result}'
# Extra arguments are the project's config overrides (model=..., data=..., train.*=...).
# ORCHESTRATOR_PYTHON is the job's interpreter (executor.python), set by the controller's job.
set -euo pipefail
model=$1
output_dir=$2
shift 2
exec "${ORCHESTRATOR_PYTHON:-python}" -m jobs.train --output-dir "$output_dir" "model.name_or_path=$model" "$@"
