"""Coordinate check: the algebra's exponents, and verdicts on correct, unstable and mis-scaled networks."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from _cli import run_cli as _cli
from infwidth.nn import coord_check, predicted_exponents
from infwidth.nn.predicted_sizes import Quantity
from infwidth.parametrization import AbcParametrization, classify, mfp, mup, ntp, sp, sp_stable

SMALL = (64, 128, 256, 512, 1024)
DEEP = (256, 512, 1024, 2048)  # depth 3 kernel-regime NTKs still drift below n = 256


def test_predicted_exponents_follow_the_algebra() -> None:
    """Delta x^L ~ n^{-r} (Def. 3.2), Delta W^l x ~ n^{-r_l} (Prop. 5.3), f_0 ~ n^{1/2 - a_{L+1} - b_{L+1}}."""
    for p in [mup(3), ntp(2), sp_stable(3), mfp(1), AbcParametrization([0, 0, "1/2"], [0, "1/2", 1], 1)]:
        k = classify(p)
        assert k.stable
        pred = predicted_exponents(p, steps=2)
        L = p.depth
        for t in (1, 2):
            assert pred[Quantity("dx", L, t)] == -k.r
            for l in range(1, L + 1):
                assert pred[Quantity("dWx", l, t)] == -k.r_l[l - 1]
        assert pred[Quantity("f0", 0, 0)] == Fraction(1, 2) - p.a[-1] - p.b[-1]
    # muP: everything Theta(1) except f_0 ~ n^{-1/2}; Delta f = Theta(1) (nontrivial)
    pm = predicted_exponents(mup(2), 1)
    assert {v for q, v in pm.items() if q.kind != "f0"} == {0}
    # SP with c = 0 blows up at the first step: Delta f_1 ~ n, Delta h^2_1 ~ n^{1/2}; later steps unpredicted
    ps = predicted_exponents(sp(2), 2)
    assert ps[Quantity("df", 0, 1)] == 1 and ps[Quantity("dh", 2, 1)] == Fraction(1, 2)
    assert ps[Quantity("df", 0, 2)] is None
    # a readout initialized too small: f_0 ~ n^{-1}; stable with c = 1 (2 a_{L+1} + c = 1)
    p = AbcParametrization([0, 0, 0], [0, "1/2", "3/2"], 1)
    pp = predicted_exponents(p, 2)
    assert pp[Quantity("f0", 0, 0)] == -1 and pp[Quantity("df", 0, 1)] == 0


@pytest.mark.parametrize(
    "p, widths, seeds, steps",
    [(mup(1), SMALL, 6, 2), (mfp(1), SMALL, 6, 2), (sp_stable(1), SMALL, 6, 2), (ntp(1), SMALL, 6, 2),
     (mup(2), SMALL, 3, 2), (sp_stable(2), SMALL, 3, 2), (ntp(2), SMALL, 3, 2),
     (mup(3), DEEP, 2, 1), (sp_stable(3), DEEP, 2, 1), (ntp(3), DEEP, 2, 1)],
    ids=lambda v: v.name + str(v.depth) if isinstance(v, AbcParametrization) else "",
)
def test_coordcheck_passes_for_correct_networks(p: AbcParametrization, widths: tuple[int, ...], seeds: int,
                                                steps: int) -> None:
    """SP (c = 1), NTP, muP at depth 1-3 and MFP: every predicted exponent is measured, nothing blows up."""
    r = coord_check(p, widths=widths, seeds=seeds, steps=steps, eta=0.1)
    bad = [(f.quantity.label, f.quantity.step, float(f.predicted or 0), f.slope) for f in r.fits
           if f.verdict not in ("pass", "-")]
    assert r.passed and not r.blows_up and r.ok, bad


def test_coordcheck_flags_sp_with_c0_as_blowing_up() -> None:
    r = coord_check(sp(2), widths=SMALL, seeds=3, steps=2, eta=0.1)
    assert not r.predicted_stable
    assert r.blows_up and r.ok
    df1 = next(f for f in r.fits if f.quantity == Quantity("df", 0, 1))
    assert df1.ci_low > 0.5  # Delta f_1 grows like n (predicted exponent 1)
    assert "BLOW UP" in r.verdict


@pytest.mark.parametrize("depth", [1, 2])
def test_coordcheck_catches_mup_with_forgotten_readout_multiplier(depth: int) -> None:
    """The network is built with a_{L+1} = 0 (multiplier n^{-1/2} forgotten) but checked against muP."""
    p = mup(depth)
    wrong = AbcParametrization(p.a[:-1] + (Fraction(0),), p.b, p.c, "forgot")
    r = coord_check(p, widths=SMALL[:4], seeds=2, steps=1, eta=0.1, network_param=wrong)
    assert not r.passed and not r.ok
    f0 = next(f for f in r.fits if f.quantity == Quantity("f0", 0, 0))
    assert f0.verdict == "FAIL" and abs(f0.slope) < 0.15  # f_0 = Theta(1), not n^{-1/2}


def test_coordcheck_catches_sp_claimed_as_mup() -> None:
    """A perfectly stable SP (c = 1) network is still not muP: Delta x^1 vanishes instead of Theta(1)."""
    r = coord_check(mup(2), widths=SMALL[:4], seeds=2, steps=1, eta=0.1, network_param=sp_stable(2))
    assert not r.passed
    fails = {f.quantity.kind for f in r.fits if f.verdict == "FAIL"}
    assert {"f0", "dx"} <= fails


def test_cli_coordcheck_json_files_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command writes CSV/PNG/JSON, exits 0 on a pass, 1 on a mis-scaled network, 2 on bad input."""
    common = ["--widths", "64,128,256,512", "--seeds", "2", "--steps", "1", "--out-dir", str(tmp_path), "--json"]
    code, out, _ = _cli(["coordcheck", "--parametrization", "mfp", "--depth", "1", *common], capsys)
    obj = json.loads(out)
    assert code == 0 and obj["passed"] and obj["regime"] == "feature learning"
    for key in ("raw_csv", "fits_csv", "png"):
        assert Path(obj["files"][key]).is_file()
    code, out, _ = _cli(["coordcheck", "--parametrization", "mup", "--depth", "1", "--build-a", "-1/2,0", *common],
                        capsys)
    assert code == 1 and json.loads(out)["passed"] is False
    code, _, err = _cli(["coordcheck", "--parametrization", "mup", "--depth", "1", "--widths", "64,128", "--json"],
                        capsys)
    assert code == 2 and "at least 3 widths" in err
