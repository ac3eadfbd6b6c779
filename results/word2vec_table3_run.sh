#!/usr/bin/env bash
# Word2Vec runs behind results/word2vec_table3.md (TP4 Table 3 and Figure 1). Every command resumes:
# rerunning continues interrupted runs and skips finished ones. Run the queues one at a time (each run
# uses the threads it is listed with; two runs at once on 2 cores slow each other far more than 2x).
#   bash results/word2vec_table3_run.sh A       # full count>=5 vocabulary, 15 epochs: NTK, widths 64/256/1024
#   bash results/word2vec_table3_run.sh B       # the muP limit at the 30,000 most frequent words, 1 epoch
#   bash results/word2vec_table3_run.sh C       # widths 64/256/1024 and NTK at the limit's vocabulary and epochs
#   bash results/word2vec_table3_run.sh more    # seeds 1-2 of width 1024 (seed 2 not run)
#   bash results/word2vec_table3_run.sh tables  # the generated blocks, CSVs and Figure 1 (no training)
# Each run is MODEL:SEED:THREADS; the thread count is part of the run (Hogwild: 2 threads interleave the
# updates of two halves of each block, 1 thread runs them in order).
# How the committed tables were produced: queue A's widths 64 and 256 (seed 0, 1 thread) and NTK on
# 2026-12-01/02 alongside other runs; width 1024 seed 0 ran epoch 1 then, epochs 2-15 on 2026-12-02; queue B's
# limit ran 34% of its epoch with 1 thread on 2026-12-01/02 and the rest with 2 threads on 2026-12-02; queue C,
# the rest of queue A and width 1024 seed 1 (queue `more`) on 2026-12-02, one run at a time; `more`'s seed 2
# was not run. Then `tables`.
set -euo pipefail
cd "$(dirname "$0")/.."
W2V="infwidth experiment word2vec --resume"
LIMIT_EPOCHS=${LIMIT_EPOCHS:-1}
dir_of() { local label=${1/:/}; label=${label/ntk1024/ntk}; [ "$2" = 0 ] && echo "$label" || echo "$label-seed$2"; }
full() {
  for spec in "$@"; do
    IFS=: read -r kind width seed threads <<<"$spec"
    $W2V --threads "$threads" --model "$kind:$width" --seed "$seed" --preset paper --eval-every 5 \
      --out "runs/t3-full/$(dir_of "$kind:$width" "$seed")"
  done
}
small() {
  for spec in "$@"; do
    IFS=: read -r kind width seed threads <<<"$spec"
    $W2V --threads "$threads" --model "$kind:$width" --seed "$seed" --preset paper --max-vocab 30000 \
      --epochs "$LIMIT_EPOCHS" --out "runs/t3-30k/$(dir_of "$kind:$width" "$seed")"
  done
}
case "${1:-A}" in
A)
  full width:64:0:1 width:256:0:1 width:1024:0:2 ntk:1024:0:1 \
       width:64:1:2 width:64:2:2 width:256:1:2 width:256:2:2 ;;
B)
  $W2V --threads 2 --model limit --preset paper --max-vocab 30000 --epochs "$LIMIT_EPOCHS" \
    --checkpoint-minutes 10 --out runs/t3-30k/limit ;;
C)
  small width:64:0:2 width:256:0:2 width:1024:0:2 ntk:1024:0:2 ;;
more)
  full width:1024:1:2 width:1024:2:2 ;;  # seed 1 ran; seed 2 did not
tables)
  T="infwidth experiment word2vec-table3 --preset paper --no-run --table results/word2vec_table3.md"
  $T --models ntk,width:64,width:256,width:1024 --seeds 0,1,2 --out runs/t3-full --section full-vocabulary \
     --csv results/word2vec_table3_full.csv --figure results/word2vec_figure1_full.png
  $T --max-vocab 30000 --epochs "$LIMIT_EPOCHS" --models ntk,width:64,width:256,width:1024,limit --seeds 0 \
     --limit-seeds 0 --out runs/t3-30k --section limit-30k --csv results/word2vec_table3_30k.csv \
     --figure results/word2vec_figure1_30k.png ;;
*)
  echo "usage: bash results/word2vec_table3_run.sh A|B|C|more|tables" >&2; exit 2 ;;
esac
