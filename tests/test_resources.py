"""Resource estimates (infwidth.resources, infwidth.cli.estimates): the runs the docs tell users to make fit
on a 24 GiB CPU machine; the impossible ones of issue 14 are refused with the estimate and the limit."""

import pytest

from infwidth.cli import estimates as e
from infwidth.errors import InfwidthError
from infwidth.experiments.max_lr import PRESETS as MAX_LR
from infwidth.resources import Estimate, check, fmt_bytes, fmt_seconds


@pytest.fixture(autouse=True)
def _limits(monkeypatch):
    monkeypatch.setenv("INFWIDTH_MEMORY_LIMIT_GB", "24")
    monkeypatch.setenv("INFWIDTH_TIME_LIMIT_H", "48")


def _max_lr(preset: str):
    c = MAX_LR[preset]
    return e.max_lr(c.widths, c.depth, c.n_train, c.batch, c.epochs, sum(len(g) for g in c.log2_lrs.values()))


DOCUMENTED = {  # command lines of README.md / docs/*.md -> their estimate
    "kernel 1000 rows": (e.kernel(1000, 1000, 3, False), "cpu"),
    "limit mlp default": (e.limit_mlp(1, 5, 200_000, True), "cpu"),
    "limit compare default": (e.limit_compare(2, 6, 200_000, (128, 512, 2048), 16), "cpu"),
    "fig4 default": (e.fig4((1024, 4096), 100), "cpu"),
    "coordcheck default": (e.coordcheck([2**k for k in range(6, 13)], 2, 8, 8, 16, 3, 4, True), "cpu"),
    "sweep default": (e.sweep("mlp", (32, 64, 128), 100, 4, 2), "cpu"),
    "transfer default": (e.transfer("cifar-mlp", (64, 128, 256, 512, 1024), 100, 64, 30, 2), "cpu"),
    "transfer text": (e.transfer("text-transformer", (32, 64, 128, 256), 60, 16, 30, 2), "cpu"),
    "max-lr cpu-small": (_max_lr("cpu-small"), "cpu"),
    "max-lr paper on a GPU": (_max_lr("paper"), "cuda"),
    "word2vec cpu width 1024": (e.word2vec(1024, 10_000, None, 2), "cpu"),
    "word2vec cpu limit": (e.word2vec(None, 10_000, None, 2), "cpu"),
    "word2vec paper width 1024": (e.word2vec(1024, None, None, 15), "cpu"),
    "maml paper width 512": (e.maml(512, 32, 100 * 100, 3200, 3200, 100), "cpu"),
    "maml paper limit": (e.maml(None, 32, 100 * 100, 3200, 3200, 100), "cpu"),
    "maml-kernel-tune default": (e.kernel_tune(64, 1600, 20), "cpu"),
    "phase-diagram default": (e.phase_diagram(105, 4, 2), "cpu"),
}


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_documented_runs_fit(name):
    est, device = DOCUMENTED[name]
    check(est, device=device)


@pytest.mark.parametrize("est, words", [
    (e.kernel(60_000, 60_000, 1, False), "60000 x 60000 kernel"),  # the 26.8 GiB allocation
    (e.limit_mlp(1, 2, 10**9, True), "1000000000 particles"),  # 14.6 TiB
    (e.maml(None, 10**7, 10, 64, 200, 2), "meta-batch 10000000"),  # 36.5 GiB
    (e.sweep("mlp", (10**9,), 1, 1, 1), "width 1000000000"),
    (e.max_lr((256,), 2, 2048, 32, 1, e.lr_grid_size(16, 1e-9)), "runs per width"),  # --lr-step 1e-9 hung
    (e.phase_diagram(3.25e6 + 1, 4, 2), "grid points"),
    (e.word2vec(10**8, 2000, 300_000, 1), "width 100000000"),
])
def test_impossible_runs_are_refused_in_one_sentence(est, words):
    with pytest.raises(InfwidthError) as info:
        check(est)
    msg = str(info.value)
    assert words in msg and "--force" in msg and ("of memory, more than the 24.0 GiB" in msg or "over the" in msg)
    assert msg.count(". ") == 0 and msg.endswith(".")
    check(est, force=True)  # --force: the user knows better


def test_time_limit_and_device_rate():
    est = Estimate("a long run", 0, 1e10 * 3600 * 50)  # 50 h at the CPU rate
    with pytest.raises(InfwidthError, match=r"would take about 50\.0 h"):
        check(est)
    check(est, device="cuda")  # 100x faster: 30 min


def test_formats():
    assert fmt_bytes(26.8 * 2**30) == "26.8 GiB" and fmt_bytes(512) == "512 B"
    assert fmt_seconds(40) == "40 s" and fmt_seconds(5400) == "90 min" and fmt_seconds(86400 * 400) == "1.1 years"
