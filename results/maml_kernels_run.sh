#!/bin/bash
# Kernel baselines of TP4 Table 2: tune (sigma_v, bias) on meta-validation before meta-training (sigma_w = 1),
# then meta-train the chosen point (one-s.e. rule, see docs/maml.md) for 3 seeds. Linear kernels: the paper preset (10,000 meta-iterations).
# Usage: [MODELS='gp-relu ntk-relu'] bash results/maml_kernels_run.sh (resumable).
# Relu kernels (function space: cost grows quadratically with meta-iterations) run 1 epoch of 100 meta-batches.
cd "$(dirname "$0")/.." || exit 1
. .venv/bin/activate
[ -n "$SNAPSHOT" ] && export PYTHONPATH="$SNAPSHOT"  # run a frozen copy of src while editing
OUT=${OUT:-runs/maml-full}
TUNE=${TUNE:-runs/maml-tuning}
LOG=${LOG:-runs/maml-full-logs}
mkdir -p "$OUT" "$TUNE" "$LOG"
best() { python -c "import json,sys; d=json.load(open('$TUNE/$1-tuning.json')); print(d['sigma_v'], d['bias'])"; }
MODELS=${MODELS:-gp-linear ntk-linear gp-relu ntk-relu}
for m in $MODELS; do
  [ -f "$TUNE/$m-tuning.json" ] || infwidth experiment maml-kernel-tune --model "$m" --out "$TUNE" >> "$LOG/tune-$m.log" 2>&1
done
for m in $MODELS; do
  read -r sv b < <(best "$m")
  extra=""; case $m in *relu) extra="--epochs 1";; esac
  echo "=== $(date -u +%T) $m sigma_v=$sv bias=$b $extra" >> "$LOG/kernels-$m.log"
  infwidth experiment maml --model "$m" --sigma-v "$sv" --bias "$b" --seeds 3 --preset paper $extra \
      --threads 1 --out "$OUT" --resume --json > "$LOG/kernels-$m.last.json" 2>> "$LOG/kernels-$m.err"
  echo "=== $(date -u +%T) rc=$?" >> "$LOG/kernels-$m.log"
done
