#!/usr/bin/env bash
# The run behind results/everett/ (Everett et al.'s claims on the CIFAR MLP). Resumable: rerunning reuses
# every finished trial of runs/everett/everett.sqlite.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
infwidth experiment everett --preset cpu --out "${OUT:-runs/everett}"
