"""Our own list of bad or edge-case command lines: each must end in exit code 2, one ``error:`` line on
stderr, no traceback and nothing written (``expect="error"``).

Used by tests/test_bad_inputs.py (in-process) and scripts/bad_inputs.py (subprocesses with a timeout and a
memory cap, to count tried / handled on any source tree, e.g. before a fix). Placeholders in braces are
fixture paths made by :func:`make_fixtures` inside a temporary directory (which is also the working
directory, so default outputs would land there and be noticed).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np

# (command line, why it is bad). A line marked "unsafe:" is not run against old code (it forks or
# allocates without limit there); the issue recorded its old outcome.
CASES: list[tuple[str, str]] = [
    # classify / table1 / phase-diagram
    ("classify --parametrization mup --depth 0", "depth 0"),
    ("classify --parametrization mup --depth -1", "negative depth"),
    ("classify --parametrization mup --depth abc", "not a number"),
    ("classify --parametrization mup --depth 100000", "depth too large (hung)"),
    ("classify --parametrization mup --depth 1000000000", "depth too large (MemoryError)"),
    ("classify --parametrization bogus --depth 2", "unknown preset"),
    ("classify --parametrization mup --depth 2 --c nan", "non-finite exponent"),
    ("classify --a x --b 1/2 --c 0", "not a rational"),
    ("classify --a '' --b '' --c ''", "empty lists"),
    ("classify --a 1/0,0 --b 0,0 --c 0", "division by zero"),
    ("classify --a 0,0 --b 0 --c 0", "lengths differ"),
    ("classify --depth 2", "no parametrization"),
    ("table1 --depth 0", "depth 0"),
    ("table1 --depth -3", "negative depth"),
    ("table1 --depth 100000", "depth too large"),
    ("phase-diagram --out ''", "empty output name"),
    ("phase-diagram --out {DIR}", "output is a directory"),
    ("phase-diagram --out {UNDER_FILE}/p.png", "parent is a file"),
    ("phase-diagram --out {RO}/p.png", "unwritable parent"),
    ("phase-diagram --out {FILE}", "existing non-PNG file"),
    ("phase-diagram --step 0", "zero step"),
    ("phase-diagram --step -1/32", "negative step"),
    ("phase-diagram --step 1/1000000", "grid too large"),
    ("phase-diagram --range 1", "one bound"),
    ("phase-diagram --range 2,1", "empty range"),
    ("phase-diagram --range a,b", "not numbers"),
    ("phase-diagram --depth 0", "depth 0"),
    ("phase-diagram --x bogus", "unknown axis"),
    ("phase-diagram --parametrization bogus", "unknown preset"),
    ("exponents --optimizer bogus", "unknown optimizer"),
    ("exponents --parametrization bogus", "unknown parametrization"),
    # sweep
    ("sweep --widths abc --steps 1", "not integers"),
    ("sweep --widths '' --steps 1", "empty list"),
    ("sweep --widths 32.5 --steps 1", "fractional width"),
    ("sweep --widths 0 --steps 1", "zero width"),
    ("sweep --widths -8 --steps 1", "negative width"),
    ("sweep --widths 1000000000 --steps 1", "width too large"),
    ("sweep --lrs abc --steps 1", "not numbers"),
    ("sweep --lrs nan --steps 1", "nan learning rate"),
    ("sweep --lrs inf --steps 1", "inf learning rate"),
    ("sweep --lrs 1e400 --steps 1", "overflowing learning rate"),
    ("sweep --lrs -0.01 --steps 1", "negative learning rate (gradient ascent)"),
    ("sweep --lrs 0 --steps 1", "zero learning rate"),
    ("sweep --seeds x --steps 1", "not integers"),
    ("sweep --seeds -1 --steps 1", "negative seed"),
    ("sweep --steps 0", "zero steps (stored as diverged)"),
    ("sweep --steps -1", "negative steps"),
    ("sweep --steps 1000000000", "too many steps"),
    ("sweep --base-width 0 --steps 1", "zero base width"),
    ("sweep --workers 0 --steps 1", "zero workers"),
    ("sweep --workers -3 --steps 1", "negative workers"),
    ("sweep --parametrization bogus --steps 1", "unknown parametrization"),
    ("sweep --store '' --steps 1", "empty store name"),
    ("sweep --store {DIR} --steps 1", "store is a directory"),
    ("sweep --store {UNDER_FILE}/s.sqlite --steps 1", "parent is a file"),
    ("sweep --store {FILE} --steps 1", "store is not a database"),
    ("sweep --ray '' --steps 1", "empty Ray address"),
    # experiment transfer
    ("experiment transfer --widths abc --out {OUT}", "not integers"),
    ("experiment transfer --lrs nan --out {OUT}", "nan learning rate"),
    ("experiment transfer --seeds x --out {OUT}", "not integers"),
    ("experiment transfer --optimizers bogus --out {OUT}", "unknown optimizer (trained with SGD)"),
    ("experiment transfer --parametrizations bogus --out {OUT}", "unknown parametrization"),
    ("experiment transfer --steps 0 --out {OUT}", "zero steps"),
    ("experiment transfer --batch 0 --out {OUT}", "zero batch"),
    ("experiment transfer --base-width 0 --out {OUT}", "zero base width"),
    ("experiment transfer --workers 0 --out {OUT}", "zero workers"),
    # experiment everett / max-lr seeds / word2vec evaluation options
    ("experiment everett --seeds x --out {OUT}", "seeds not integers"),
    ("experiment everett --parametrizations sp,bogus --out {OUT}", "unknown parametrization"),
    ("experiment everett --loss-scale 0 --out {OUT}", "zero loss scale"),
    ("experiment everett --loss-scale nan --out {OUT}", "nan loss scale"),
    ("experiment everett --preset huge --out {OUT}", "unknown preset"),
    ("experiment everett --stages eps,bogus --out {OUT}", "unknown stage"),
    ("experiment everett --scan-parametrizations sp,sp --out {OUT}", "repeated scan parametrization"),
    ("experiment max-lr --seeds -1 --out-dir {OUT}", "negative seed"),
    ("experiment word2vec --model width:8 --eval-every -1 --out {OUT}", "negative eval interval"),
    ("experiment word2vec --model width:8 --init normal --out {OUT}", "unknown init"),
    ("experiment word2vec --model width:8 --checkpoint-minutes 0 --out {OUT}", "zero checkpoint interval"),
    ("experiment word2vec-table3 --seeds 0,x --out {OUT}", "seeds not integers"),
    ("experiment word2vec-table3 --section a/b --out {OUT}", "block name with a slash"),
    ("experiment transfer --out {UNDER_FILE}/t", "parent is a file"),
    ("experiment transfer --data-dir {MISSING} --out {OUT}", "missing data dir"),
    # alignment
    ("alignment --width 0", "zero width"),
    ("alignment --width -8", "negative width"),
    ("alignment --width 1000000000", "width too large"),
    ("alignment --base-width 0", "zero base width (ZeroDivisionError)"),
    ("alignment --lr nan", "nan learning rate"),
    ("alignment --lr inf", "inf learning rate"),
    ("alignment --steps 0", "zero steps"),
    ("alignment --every 0", "zero logging interval"),
    ("alignment --every -1", "negative logging interval"),
    ("alignment --out ''", "empty output"),
    ("alignment --out {DIR}", "output is a directory"),
    ("alignment --out {UNDER_FILE}/a.csv", "parent is a file"),
    ("alignment --parametrization bogus", "unknown parametrization"),
    # kernel
    ("kernel --kind ntk --inputs {EMPTY_NPY}", "0-byte .npy (exited 130)"),
    ("kernel --kind ntk --inputs {STR_NPY}", "string dtype"),
    ("kernel --kind ntk --inputs {ZERO_NPY}", "zero rows"),
    ("kernel --kind ntk --inputs {CORRUPT_NPZ}", "corrupt .npz"),
    ("kernel --kind ntk --inputs {NPZ}", ".npz given as inputs"),
    ("kernel --kind ntk --inputs {MISSING}", "missing file"),
    ("kernel --kind ntk --inputs {DIR}", "a directory"),
    ("kernel --kind ntk --inputs {OK_NPY} --inputs2 {STR_NPY}", "bad second inputs"),
    ("kernel --kind ntk --inputs {OK_NPY} --inputs2 {WIDE_NPY}", "feature dimensions differ"),
    ("kernel --kind ntk --inputs {BIG_NPY}", "60000 rows: 26.8 GiB kernel"),
    ("kernel --kind ntk --inputs {OK_NPY} --depth 0", "depth 0"),
    ("kernel --kind ntk --inputs {OK_NPY} --depth 100000000", "depth too large"),
    ("kernel --kind ntk --inputs {OK_NPY} --phi bogus", "unknown activation"),
    ("kernel --kind ntk --inputs {OK_NPY} --weight-std nan", "nan weight std"),
    ("kernel --kind ntk --inputs {OK_NPY} --weight-std abc", "not numbers"),
    ("kernel --kind ntk --inputs {OK_NPY} --weight-std 1,1,1,1,1", "too many per-layer values"),
    ("kernel --kind ntk --inputs {OK_NPY} --bias-std -1", "negative std"),
    ("kernel --kind ntk --inputs {OK_NPY} --out {UNDER_FILE}/k.npy", "parent is a file"),
    ("kernel --kind ntk --inputs {OK_NPY} --out {DIR}", "output is a directory"),
    ("kernel --kind ntk --inputs {OK_NPY} --out ''", "empty output"),
    ("kernel --kind ntk --inputs {OK_NPY} --parametrization bogus", "unknown preset"),
    ("kernel --kind bogus --inputs {OK_NPY}", "unknown kind"),
    # limit mlp / compare, fig4
    ("limit mlp --steps 0", "zero steps"),
    ("limit mlp --steps -1", "negative steps"),
    ("limit mlp --steps abc", "not a number"),
    ("limit mlp --steps 2 --depth 0", "depth 0"),
    ("limit mlp --steps 2 --phi bogus", "unknown activation"),
    ("limit mlp --steps 2 --lr nan", "nan learning rate"),
    ("limit mlp --steps 2 --lr inf", "inf learning rate"),
    ("limit mlp --steps 2 --particles 0", "zero particles"),
    ("limit mlp --steps 2 --phi tanh --particles 1000000000", "particles too many (14.6 TiB)"),
    ("limit mlp --steps 2 --phi tanh --particles 1e9", "particles written 1e9"),
    ("limit mlp --steps 2 --replicas 0", "zero replicas"),
    ("limit mlp --steps 2 --xs abc", "not numbers"),
    ("limit mlp --steps 2 --xs nan,1", "nan input"),
    ("limit mlp --steps 2 --ys inf,1", "inf target"),
    ("limit mlp --steps 2 --budget nan", "nan budget"),
    ("limit mlp --steps 2 --budget 0", "zero budget"),
    ("limit mlp --steps 2 --seed -1", "negative seed"),
    ("limit mlp --steps 2 --parametrization bogus", "unknown preset"),
    ("limit mlp --steps 2 --eval-xs abc", "not numbers"),
    ("limit mlp --steps 100000 --phi tanh", "steps too many for the particle backend"),
    ("limit mlp --inputs {OK_NPY}", "inputs without targets"),
    ("limit mlp --inputs {MISSING} --targets {OK_NPY}", "missing inputs file"),
    ("limit mlp --inputs {OK_NPY} --targets {STR_NPY}", "string-dtype targets"),
    ("limit mlp --inputs {OK_NPY} --targets {WIDE_NPY}", "targets rows differ from inputs"),
    ("limit mlp --inputs {OK_NPY} --targets {OK_NPY} --loss xent", "non-integer class indices"),
    ("limit mlp --steps 2 --batch 0", "zero batch"),
    ("limit mlp --steps 2 --batch 5", "batch larger than the data"),
    ("limit mlp --steps 2 --residual", "residual blocks at depth 1"),
    ("limit mlp --steps 2 --samples 1", "one Monte Carlo sample (no spread)"),
    ("limit mlp --inputs {BIG_NPY} --targets {BIG_NPY} --parametrization ntp --depth 2", "60000 points: too big"),
    ("kernel --kind ntk --parametrization mup --depth 2 --inputs {OK_NPY}", "mup has no kernel limit"),
    ("limit compare --widths abc", "not integers"),
    ("limit compare --widths 0", "zero width"),
    ("limit compare --widths ''", "empty list"),
    ("limit compare --widths 1000000000", "width too large"),
    ("limit compare --seeds 1", "one seed (no error bar)"),
    ("limit compare --seeds 0", "zero seeds"),
    ("limit compare --steps 0", "zero steps"),
    ("limit compare --lr nan", "nan learning rate"),
    ("limit compare --particles 0", "zero particles"),
    ("limit compare --particles 1000000000", "particles too many"),
    ("limit compare --out {UNDER_FILE}/c", "parent is a file"),
    ("limit compare --out ''", "empty output"),
    ("limit compare --phi bogus", "unknown activation"),
    ("limit compare --parametrization bogus", "unknown preset"),
    ("experiment fig4 --widths abc --out {OUT}", "not integers"),
    ("experiment fig4 --widths 0 --out {OUT}", "zero width"),
    ("experiment fig4 --widths 1000000000 --out {OUT}", "width too large"),
    ("experiment fig4 --seeds 0 --out {OUT}", "zero seeds"),
    ("experiment fig4 --seeds 1 --out {OUT}", "one seed (no error bar)"),
    ("experiment fig4 --out {UNDER_FILE}/f", "parent is a file"),
    # coordcheck, max-lr
    ("coordcheck --parametrization mup --depth 2 --widths abc", "not integers"),
    ("coordcheck --parametrization mup --depth 2 --widths 0", "zero width"),
    ("coordcheck --parametrization mup --depth 2 --widths 6..99", "range too large"),
    ("coordcheck --parametrization mup --depth 2 --widths 64", "one width: no slope"),
    ("coordcheck --parametrization mup --depth 2 --widths 1048576,2097152", "widths too large"),
    ("coordcheck --parametrization mup --depth 2 --seeds 0", "zero seeds"),
    ("coordcheck --parametrization mup --depth 2 --seeds 10000000", "too many seeds"),
    ("coordcheck --parametrization mup --depth 2 --steps 0", "zero steps"),
    ("coordcheck --parametrization mup --depth 2 --eta nan", "nan eta"),
    ("coordcheck --parametrization mup --depth 2 --eta -1", "negative eta"),
    ("coordcheck --parametrization mup --depth 2 --batch 0", "zero batch"),
    ("coordcheck --parametrization mup --depth 2 --d-in 0", "zero input dimension"),
    ("coordcheck --parametrization mup --depth 2 --d-out -1", "negative output dimension"),
    ("coordcheck --parametrization mup --depth 2 --tol nan", "nan tolerance"),
    ("coordcheck --parametrization mup --depth 2 --tol -1", "negative tolerance"),
    ("coordcheck --parametrization mup --depth 2 --device bogus", "unknown device"),
    ("coordcheck --parametrization mup --depth 2 --device cuda:99", "absent device"),
    ("coordcheck --parametrization mup --depth 2 --out-dir {UNDER_FILE}/c", "parent is a file"),
    ("coordcheck --parametrization mup --depth 2 --out-dir {FILE}", "out-dir is a file"),
    ("coordcheck --parametrization mup --depth 2 --name a/b", "name with a folder"),
    ("coordcheck --parametrization mup --depth 2 --name ''", "empty name"),
    ("coordcheck --parametrization mup --depth 2 --build-a abc", "not rationals"),
    ("coordcheck --parametrization mup --depth 2 --phi bogus", "unknown activation"),
    ("experiment max-lr --widths abc --out-dir {OUT}", "not integers"),
    ("experiment max-lr --widths 0 --out-dir {OUT}", "zero width"),
    ("experiment max-lr --n-train 0 --out-dir {OUT}", "zero training images"),
    ("experiment max-lr --n-train -1 --out-dir {OUT}", "negative training images"),
    ("experiment max-lr --epochs 0 --out-dir {OUT}", "zero epochs"),
    ("experiment max-lr --epochs -1 --out-dir {OUT}", "negative epochs"),
    ("experiment max-lr --lr-step nan --out-dir {OUT}", "nan step"),
    ("experiment max-lr --lr-step 0 --out-dir {OUT}", "zero step"),
    ("experiment max-lr --lr-step 1e-9 --out-dir {OUT}", "grid too fine (hung)"),
    ("experiment max-lr --device bogus --out-dir {OUT}", "unknown device"),
    ("experiment max-lr --out-dir {UNDER_FILE}/m", "parent is a file"),
    ("experiment max-lr --cache-dir {UNDER_FILE}/c --out-dir {OUT}", "cache parent is a file"),
    ("experiment max-lr --data-dir {MISSING} --out-dir {OUT}", "missing data dir"),
    # word2vec and analogy
    ("experiment word2vec --model bogus --out {OUT}", "unknown model"),
    ("experiment word2vec --model width:0 --out {OUT}", "zero width"),
    ("experiment word2vec --model width:64 --max-vocab 0 --out {OUT}", "zero vocabulary"),
    ("experiment word2vec --model width:64 --epochs 0 --out {OUT}", "zero epochs"),
    ("experiment word2vec --model width:64 --epochs -1 --out {OUT}", "negative epochs"),
    ("experiment word2vec --model width:64 --max-tokens -5 --out {OUT}", "negative tokens (whole corpus)"),
    ("experiment word2vec --model width:64 --max-tokens 0 --out {OUT}", "zero tokens"),
    ("experiment word2vec --model width:64 --threads 0 --out {OUT}", "zero threads"),
    ("experiment word2vec --model width:64 --seed -1 --out {OUT}", "negative seed"),
    ("experiment word2vec --model width:64 --device bogus --out {OUT}", "unknown device"),
    ("experiment word2vec --model width:64 --device cuda:99 --out {OUT}", "absent device"),
    ("experiment word2vec --model width:64 --corpus {BAD_GZ} --out {OUT}", "corrupt gzip corpus"),
    ("experiment word2vec --model width:64 --corpus {EMPTY_TXT} --out {OUT}", "empty corpus"),
    ("experiment word2vec --model width:64 --corpus {MISSING} --out {OUT}", "missing corpus"),
    ("experiment word2vec --model width:64 --questions {MISSING} --out {OUT}", "missing questions"),
    ("experiment word2vec --model width:64 --out {UNDER_FILE}/w", "parent is a file"),
    ("experiment word2vec --model width:64 --out {FILE}", "out is a file"),
    ("experiment word2vec --model width:64 --data-dir {MISSING} --out {OUT}", "missing data dir"),
    ("experiment word2vec --model width:100000000 --out {OUT}", "embeddings too large"),
    ("experiment word2vec-table3 --models bogus --out {OUT}", "unknown model"),
    ("experiment word2vec-table3 --models '' --out {OUT}", "no models"),
    ("experiment word2vec-table3 --epochs 0 --out {OUT}", "zero epochs"),
    ("experiment word2vec-table3 --max-vocab -1 --out {OUT}", "negative vocabulary"),
    ("experiment word2vec-table3 --threads 0 --out {OUT}", "zero threads"),
    ("experiment word2vec-table3 --out {FILE}", "out is a file"),
    ("experiment word2vec-table3 --table {DIR} --out {OUT}", "table is a directory"),
    ("experiment word2vec-table3 --figure {UNDER_FILE}/f.png --out {OUT}", "parent is a file"),
    ("experiment word2vec-table3 --device bogus --out {OUT}", "unknown device"),
    ("analogy {MISSING}", "missing vectors"),
    ("analogy {CORRUPT_NPZ}", "corrupt .npz"),
    ("analogy {NPZ_WRONG_KEYS}", ".npz without words/vectors"),
    ("analogy {DIR}", "a directory"),
    ("analogy {EMPTY_TXT}", "empty vectors file"),
    ("analogy {NPZ} --restrict -1", "negative candidates"),
    ("analogy {NPZ} --questions {MISSING}", "missing questions"),
    ("word2vec-figure --panel bogus --out f.png", "panel without ="),
    ("word2vec-figure --panel A={MISSING} --out f.png", "missing run"),
    ("word2vec-figure --panel A={CORRUPT_NPZ} --out f.png", "corrupt vectors"),
    ("word2vec-figure --panel A={NPZ} --out ''", "empty output"),
    ("word2vec-figure --panel A={NPZ} --out {DIR}", "output is a directory"),
    # maml
    ("experiment maml --model bogus --out {OUT}", "unknown model"),
    ("experiment maml --model width:0 --out {OUT}", "zero width"),
    ("experiment maml --model limit --meta-lr nan --out {OUT}", "nan meta-lr"),
    ("experiment maml --model limit --meta-lr -1 --out {OUT}", "negative meta-lr"),
    ("experiment maml --model limit --sigma-u nan --out {OUT}", "nan sigma_u"),
    ("experiment maml --model limit --sigma-v -1 --out {OUT}", "negative sigma_v"),
    ("experiment maml --model limit --sigma-v nan --out {OUT}", "nan sigma_v"),
    ("experiment maml --model limit --bias nan --out {OUT}", "nan bias"),
    ("experiment maml --model limit --seeds 0 --out {OUT}", "zero seeds"),
    ("experiment maml --model limit --epochs 0 --out {OUT}", "zero epochs"),
    ("experiment maml --model limit --batches 0 --out {OUT}", "zero batches"),
    ("experiment maml --model limit --meta-batch 0 --out {OUT}", "zero meta-batch"),
    ("experiment maml --model limit --meta-batch 10000000 --out {OUT}", "meta-batch too large (36.5 GiB)"),
    ("experiment maml --model limit --val-tasks 0 --out {OUT}", "zero validation tasks"),
    ("experiment maml --model limit --test-tasks 0 --out {OUT}", "zero test tasks"),
    ("experiment maml --model limit --threads 0 --out {OUT}", "zero threads"),
    ("experiment maml --model limit --out {FILE}", "out is a file"),
    ("experiment maml --model limit --out {UNDER_FILE}/m", "parent is a file"),
    ("experiment maml --model limit --data-dir {MISSING} --out {OUT}", "missing data dir"),
    ("experiment maml --model width:100000000 --out {OUT}", "width too large"),
    ("experiment maml-table --models bogus --out {OUT}", "unknown model"),
    ("experiment maml-table --seeds 0 --out {OUT}", "zero seeds"),
    ("experiment maml-table --results {FILE} --out {OUT}", "results is a file"),
    ("experiment maml-table --out {FILE}", "out is a file"),
    ("experiment maml-kernel-tune --model gp-relu --sigma-v abc --out {OUT}", "not numbers"),
    ("experiment maml-kernel-tune --model gp-relu --sigma-v nan --out {OUT}", "nan sigma_v"),
    ("experiment maml-kernel-tune --model gp-relu --sigma-v -1 --out {OUT}", "negative sigma_v"),
    ("experiment maml-kernel-tune --model gp-relu --bias nan --out {OUT}", "nan bias"),
    ("experiment maml-kernel-tune --model gp-relu --val-tasks 0 --out {OUT}", "zero tasks"),
    ("experiment maml-kernel-tune --model gp-relu --steps 0 --out {OUT}", "zero steps"),
    ("experiment maml-kernel-tune --model gp-relu --threads 0 --out {OUT}", "zero threads"),
    ("experiment maml-kernel-tune --model gp-relu --out {FILE}", "out is a file"),
    ("experiment maml-kernel-tune --model bogus --out {OUT}", "unknown kernel"),
    # data, tour
    ("data list --data-dir {FILE}", "data dir is a file"),
    ("data download bogus --data-dir {OUT}", "unknown data set"),
    ("data download '' --data-dir {OUT}", "empty name"),
    ("data download text8 --data-dir {UNDER_FILE}/d", "parent is a file"),
    ("tour --out {FILE}", "out is a file"),
    ("tour --out {UNDER_FILE}/t", "parent is a file"),
    ("tour --out ''", "empty output"),
]

# Commands that fork or allocate without limit in the code before the fix: counted from the issue's
# record, never run against old code (a fork bomb on a shared machine).
UNSAFE_BEFORE: list[tuple[str, str]] = [
    ("sweep --workers 1000000 --steps 1", "fork bomb: hung"),
]


def make_fixtures(root: Path) -> dict[str, str]:
    """Create the fixture files under ``root`` and return the placeholder -> path mapping."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "adir").mkdir(exist_ok=True)
    (root / "afile.txt").write_text("not a database, not a directory\n")
    np.save(root / "ok.npy", np.random.default_rng(0).standard_normal((4, 3)))
    np.save(root / "wide.npy", np.ones((2, 5)))
    np.save(root / "big.npy", np.zeros((60000, 2)))
    (root / "empty.npy").write_bytes(b"")
    np.save(root / "str.npy", np.array(["a", "b", "c"]))
    np.save(root / "zero.npy", np.zeros((0, 3)))
    (root / "corrupt.npz").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    np.savez(root / "vec.npz", words=np.array(["king", "queen", "man", "woman"]), vectors=np.eye(4))
    np.savez(root / "keys.npz", embeddings=np.eye(3))
    (root / "bad.gz").write_bytes(b"\x1f\x8b\x08\x00 this is not deflate data")
    (root / "empty.txt").write_bytes(b"")
    return {
        "DIR": str(root / "adir"), "FILE": str(root / "afile.txt"), "UNDER_FILE": str(root / "afile.txt"),
        "MISSING": str(root / "missing.npy"), "RO": "/proc/infwidth-bad-input", "OUT": str(root / "out"),
        "OK_NPY": str(root / "ok.npy"), "WIDE_NPY": str(root / "wide.npy"), "BIG_NPY": str(root / "big.npy"),
        "EMPTY_NPY": str(root / "empty.npy"), "STR_NPY": str(root / "str.npy"), "ZERO_NPY": str(root / "zero.npy"),
        "CORRUPT_NPZ": str(root / "corrupt.npz"), "NPZ": str(root / "vec.npz"),
        "NPZ_WRONG_KEYS": str(root / "keys.npz"),
        "BAD_GZ": str(root / "bad.gz"), "EMPTY_TXT": str(root / "empty.txt"),
    }


def argv(line: str, paths: dict[str, str]) -> list[str]:
    """The argument list of a case, placeholders filled."""
    return [part.format(**paths) for part in shlex.split(line)]


def snapshot(root: Path) -> set[str]:
    """Every path under ``root`` (to check that a refused command wrote nothing)."""
    return {str(p) for p in root.rglob("*")}


def handled(code: int, out: str, err: str) -> bool:
    """Exit 2, an ``error:`` line on stderr (exactly one line), no traceback."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    return (code == 2 and "Traceback" not in err + out and len(lines) >= 1 and lines[-1].startswith("error: ")
            and sum(ln.startswith("error: ") for ln in lines) == 1)
