#!/usr/bin/env bash
# The rest of the Word2Vec runs behind results/word2vec_table3.md, in the order they were run after the
# first three (width 64 and 256 of word2vec_table3_run.sh A, the limit of ... B, width 1024 with 2 threads):
# NTK and the extra seeds at the full vocabulary, then queue C (the widths at the limit's vocabulary).
# Every command resumes; finished runs are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
W2V="infwidth experiment word2vec --threads 1 --resume"
LIMIT_EPOCHS=${LIMIT_EPOCHS:-1}
$W2V --model ntk --seed 0 --preset paper --out runs/t3-full/ntk
for spec in width:64:0 width:256:0 width:1024:0 ntk:1024:0; do  # queue C first: the limit comparison needs it
  model=${spec%:*}; seed=${spec##*:}; label=${model/:/}; label=${label/ntk1024/ntk}
  $W2V --model "$model" --seed "$seed" --preset paper --max-vocab 30000 --epochs "$LIMIT_EPOCHS" --out "runs/t3-30k/$label"
done
for spec in width:64:1 width:64:2 width:256:1 width:256:2; do
  model=${spec%:*}; seed=${spec##*:}; label=${model/:/}
  $W2V --model "$model" --seed "$seed" --preset paper --eval-every 5 --out "runs/t3-full/$label-seed$seed"
  $W2V --model "$model" --seed "$seed" --preset paper --max-vocab 30000 --epochs "$LIMIT_EPOCHS" \
    --out "runs/t3-30k/$label-seed$seed"
done
for seed in 1 2; do
  $W2V --model width:1024 --seed "$seed" --preset paper --max-vocab 30000 --epochs "$LIMIT_EPOCHS" \
    --out "runs/t3-30k/width1024-seed$seed"
done
