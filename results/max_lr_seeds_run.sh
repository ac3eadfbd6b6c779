#!/usr/bin/env bash
# Runs behind results/max_lr_seeds/ (max-LR exponents, bisection to 1/8 octave). What ran (2026-12-01/02):
# the first infwidth command (widths 256..4096, 4 seeds) and the second for seed 0 only
# (`--widths 8192 --seeds 0`); seed 1 at 8192 did not run. The committed files are from the third command
# (a summary over every width and every seed in runs.csv, no training).
# Resumable: rerunning skips finished (param, width, seed, lr) runs. Seed 0 at widths <= 4096 reuses the
# half-octave grid of results/max_lr/runs.csv (same data subset, init and order), copied in with seed = 0.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/max_lr_seeds}
export OMP_NUM_THREADS=1
if [ ! -f "$OUT/runs.csv" ]; then
  mkdir -p "$OUT"
  python - "$OUT/runs.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open("results/max_lr/runs.csv")))
fields = ["param", "width", "seed", "log2_lr", "lr", "status", "init_loss", "final_train_loss", "test_acc", "steps",
          "seconds"]
with open(sys.argv[1], "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=fields)
    w.writeheader()
    for r in rows:
        w.writerow({**r, "seed": "0"})
PY
fi
infwidth experiment max-lr --preset cpu-seeds --widths 256,512,1024,2048,4096 --seeds 0,1,2,3 --out-dir "$OUT"
infwidth experiment max-lr --preset cpu-seeds --widths 8192 --seeds 0,1 --out-dir "$OUT"
# summary over every width and seed in runs.csv (no new runs: all are finished above)
infwidth experiment max-lr --preset cpu-seeds --widths 256,512,1024,2048,4096,8192 --seeds 0 --out-dir "$OUT"
