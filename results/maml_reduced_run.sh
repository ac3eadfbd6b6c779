#!/bin/bash
# Reduced Table 2 run: TP4's hyperparameters, meta-batch 32, 1,000 instead of 10,000 meta-iterations
# (10 epochs x 100), 640 instead of 3,200 val tasks per epoch, 3,200 test tasks (20 steps); 1 torch thread.
cd /work/main
. .venv/bin/activate
OUT=runs/maml-reduced
COMMON="--preset paper --epochs 10 --val-tasks 640 --threads 1 --out $OUT --resume"
run() { echo "=== $(date -u +%T) $*"; infwidth experiment maml "$@" --json > /tmp/maml_reduced/last.json 2>>/tmp/maml_reduced/stderr.log; echo "=== $(date -u +%T) done rc=$?"; }
for m in limit ntk-linear width:8 width:512 width:32 gp-linear width:2 width:128; do
  run --model $m --seeds 1 $COMMON
done
run --model gp-relu --seeds 1 --preset paper --epochs 2 --val-tasks 640 --test-tasks 1600 --threads 1 --out $OUT --resume
for m in limit width:8 width:512 ntk-linear width:32 width:2 width:128 gp-linear; do
  run --model $m --seeds 2 $COMMON
done
run --model width:2048 --seeds 1 $COMMON
run --model limit --seeds 3 $COMMON
run --model width:8 --seeds 3 $COMMON
