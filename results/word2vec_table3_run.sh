#!/usr/bin/env bash
# Word2Vec runs behind results/word2vec_table3.md (TP4 Table 3). Every command resumes: rerunning this
# script continues interrupted runs and skips finished ones. Three queues (run two at a time on 2 cores):
#   bash results/word2vec_table3_run.sh A    # finite widths and NTK, full count>=5 vocabulary, 15 epochs
#   bash results/word2vec_table3_run.sh B    # the muP limit at the 30,000 most frequent words
#   bash results/word2vec_table3_run.sh C    # finite widths at the limit's vocabulary and epochs
# Then the tables and Figure 1 (no training; unfinished runs are listed as missing):
#   bash results/word2vec_table3_run.sh tables
# How the committed table was produced (2026-12-01/02, 2 shared cores): queue A ran widths 64 and 256 (seed 0,
# 1 thread, 15 epochs each); width 1024 ran with 2 threads and was stopped after epoch 1,
#   infwidth experiment word2vec --threads 2 --resume --model width:1024 --seed 0 --preset paper \
#     --eval-every 5 --out runs/t3-full/width1024
# queue B (the 30,000-word limit) was stopped at 34% of its first epoch; NTK was
#   infwidth experiment word2vec --threads 1 --model ntk --seed 0 --preset paper --out runs/t3-full/ntk
# and `tables` wrote part 1 of results/word2vec_table3.md. Everything else (queue C, extra seeds) is
# results/word2vec_table3_rest.sh, not run.
set -euo pipefail
cd "$(dirname "$0")/.."
W2V="infwidth experiment word2vec --threads 1 --resume"
LIMIT_EPOCHS=${LIMIT_EPOCHS:-1}
case "${1:-A}" in
A)
  for spec in width:64:0 width:256:0 width:1024:0 ntk:1024:0 width:64:1 width:64:2 width:256:1 width:256:2 \
              width:1024:1 width:1024:2; do
    model=${spec%:*}; seed=${spec##*:}; label=${model/:/}; label=${label/ntk1024/ntk}
    [ "$seed" = 0 ] && dir=$label || dir=$label-seed$seed
    $W2V --model "$model" --seed "$seed" --preset paper --eval-every 5 --out "runs/t3-full/$dir"
  done ;;
C)
  for spec in width:64:0 width:256:0 width:1024:0 ntk:1024:0 width:64:1 width:64:2 width:256:1 width:256:2 \
              width:1024:1 width:1024:2; do
    model=${spec%:*}; seed=${spec##*:}; label=${model/:/}; label=${label/ntk1024/ntk}
    [ "$seed" = 0 ] && dir=$label || dir=$label-seed$seed
    $W2V --model "$model" --seed "$seed" --preset paper --max-vocab 30000 --epochs "$LIMIT_EPOCHS" \
      --out "runs/t3-30k/$dir"
  done ;;
B)
  $W2V --model limit --preset paper --max-vocab 30000 --epochs "$LIMIT_EPOCHS" --checkpoint-minutes 30 \
    --out runs/t3-30k/limit ;;
tables)
  T="infwidth experiment word2vec-table3 --preset paper --no-run --table results/word2vec_table3.md"
  $T --models ntk,width:64,width:256,width:1024 --seeds 0 --out runs/t3-full --section full-vocabulary \
     --csv results/word2vec_table3_full.csv --figure results/word2vec_figure1_full.png
  # the 30,000-word section once its limit has finished (it had not: see part 2 of the table)
  if [ -f runs/t3-30k/limit/summary.json ]; then
    $T --max-vocab 30000 --epochs "$LIMIT_EPOCHS" --models ntk,width:64,width:256,width:1024,limit --seeds 0 \
       --limit-seeds 0 --out runs/t3-30k --section limit-30k --csv results/word2vec_table3_30k.csv \
       --figure results/word2vec_figure1.png
  fi ;;
esac
