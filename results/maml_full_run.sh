#!/bin/bash
# Full TP4 Table 2 run on CPU (paper preset: 100 epochs x 100 meta-batches of 32 tasks, 3,200 val tasks per
# epoch, 3,200 test tasks with 20 steps), seeds 0-2, two streams of one torch thread each.
# The kernel baselines run separately (results/maml_kernels_run.sh) with variances tuned on meta-validation.
# Usage: bash results/maml_full_run.sh  (resumable: finished runs are reused, checkpointed ones continue)
cd "$(dirname "$0")/.." || exit 1
. .venv/bin/activate
[ -n "$SNAPSHOT" ] && export PYTHONPATH="$SNAPSHOT"  # run a frozen copy of src while editing
OUT=${OUT:-runs/maml-full}
LOG=${LOG:-runs/maml-full-logs}
mkdir -p "$OUT" "$LOG"
run() { local tag=$1; shift; echo "=== $(date -u +%T) $*" >> "$LOG/$tag.log";
        infwidth experiment maml "$@" --threads 1 --out "$OUT" --resume --json > "$LOG/$tag.last.json" 2>> "$LOG/$tag.err";
        echo "=== $(date -u +%T) rc=$?" >> "$LOG/$tag.log"; }
stream1() { for m in limit width:8192 width:512; do run s1 --model "$m" --seeds 3 --preset paper; done; }
stream2() {
  for m in width:2048 width:128 width:32 width:8 width:2; do run s2 --model "$m" --seeds 3 --preset paper; done
}
stream1 & stream2 & wait
infwidth experiment maml-table --no-run --out "$OUT" --results results
