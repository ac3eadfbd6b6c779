#!/usr/bin/env bash
# The run behind results/everett/ (Everett et al.'s claims on the CIFAR MLP). Resumable: rerunning reuses
# every finished trial of runs/everett/everett.sqlite, so the command below both trains (from scratch: about
# 2.5 h wall for its 891 trials on the shared 2-core machine, measured) and, once every trial is stored,
# only rewrites the report.
# How the committed files were made (2026-12-01/02, shared machine): this command ran stages A, B and part of
# C and was stopped when the session ended; the remaining trials were computed by calling the same stage
# functions of infwidth.experiments.everett in another order (cheapest and most telling first; identical trial
# parameters, so the same store rows); then this command found every trial in the store and wrote the report.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
infwidth experiment everett --preset cpu --out "${OUT:-runs/everett}" "$@"
# then: mkdir -p results/everett && cp runs/everett/everett.{md,json} runs/everett/everett_trials.csv \
#   runs/everett/everett_{transfer,eps}.png results/everett/
