#!/bin/bash
# Set-up lines copied into every sbatch script before the job starts (one command a line).
# Use it with:  executor.train.setup_template=sbatch_templates/setup_example.sh
# (and/or executor.infer.setup_template=...). Edit for your cluster; lines starting with #
# are kept as comments.
# module load cuda/12.4
# source ~/miniconda3/etc/profile.d/conda.sh && conda activate bert
export TOKENIZERS_PARALLELISM=false
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-0}
