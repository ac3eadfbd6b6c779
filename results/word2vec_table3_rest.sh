#!/usr/bin/env bash
# The rest of the Word2Vec runs behind results/word2vec_table3.md, in the order they were run after the
# first three (width 64 and 256 of word2vec_table3_run.sh A, the limit of ... B, width 1024 with 2 threads):
# NTK at the full vocabulary, the widths at the limit's vocabulary and epochs (queue C), then the extra
# seeds, cheapest first. Every command resumes; finished runs are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
W2V="infwidth experiment word2vec --threads 1 --resume"
LIMIT_EPOCHS=${LIMIT_EPOCHS:-1}
full() { $W2V --model "$1" --seed "$2" --preset paper --eval-every 5 --out "runs/t3-full/$3"; }
small() { $W2V --model "$1" --seed "$2" --preset paper --max-vocab 30000 --epochs "$LIMIT_EPOCHS" --out "runs/t3-30k/$3"; }
$W2V --model ntk --seed 0 --preset paper --out runs/t3-full/ntk
small width:64 0 width64; small width:256 0 width256; small width:1024 0 width1024; small ntk 0 ntk
for s in 1 2; do full width:64 $s width64-seed$s; small width:64 $s width64-seed$s; done
for s in 1 2; do small width:256 $s width256-seed$s; small width:1024 $s width1024-seed$s; done
for s in 1 2; do full width:256 $s width256-seed$s; done
