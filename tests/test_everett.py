"""The Everett et al. experiment: LR sweeps that bracket the optimum, the constant search, drift, the
SP = NTK and muP = MF equivalences under Adam, and a report that keeps the prose around its block."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from infwidth.experiments import everett
from infwidth.experiments.everett import Runner, config_for, search_constants, transfer_curve


def _opt(width: int) -> float:
    return -10.0 - 0.5 * math.log2(width / 16)  # the optimum drifts by -1/2 per doubling


def _fake(p: dict[str, Any]) -> dict[str, Any]:
    """A quadratic bowl in log2(lr) around _opt(width), plus penalties away from multipliers (2, 1, 0.5)."""
    x = math.log2(float(p["lr"]))
    pen = sum(math.log2(float(p[f"mult_{r}"]) / t) ** 2 for r, t in (("readout", 2.0), ("hidden", 1.0),
                                                                      ("embedding", 0.5)))
    loss = 2.0 + 0.01 * (x - _opt(int(p["width"]))) ** 2 + 0.001 * pen + 1e-4 * int(p["seed"])
    return {"loss": loss, "diverged": False, "curve": [loss], "grad_over_eps": {"hidden": 1.0}}


def _cfg(tmp_path: Path) -> everett.EverettConfig:
    return config_for("tiny", out=tmp_path, log2_lrs=tuple(v / 2 for v in range(-30, -9)), seeds=(0, 1))


def test_sweep_brackets_the_optimum_and_measures_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(everett, "run_everett_trial", _fake)
    runner = Runner(_cfg(tmp_path), progress=False)
    lo, best, rows = runner.lr_sweep(64, [0, 1], center=-14.0, parametrization="sp")
    assert lo == pytest.approx(_opt(64), abs=1e-9)  # a parabola through a quadratic is exact
    xs = sorted({math.log2(r["lr"]) for r in rows})
    assert sum(x < lo for x in xs) >= 2 and sum(x > lo for x in xs) >= 2
    assert len(xs) < len(runner.cfg.log2_lrs)  # only around the optimum
    c = transfer_curve(runner, "sp", parametrization="sp")
    assert c["drift"] == pytest.approx(-0.5, abs=1e-9) and c["largest_seeds"] == [0, 1, 1]
    # the base optimum (-10) is one octave above the largest width's (-11): 0.01 * 1^2 worse
    assert c["transfer_penalty"] == pytest.approx(0.01, abs=1e-9) and c["transfer_penalty_log2_lr"] == -10.0
    s = search_constants(runner, "mup")
    assert s["multipliers"] == {"embedding": 0.5, "hidden": 1.0, "readout": 2.0}


def test_report_keeps_prose_and_lists_every_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(everett, "run_everett_trial", _fake)
    cfg = _cfg(tmp_path)
    (tmp_path / "everett.md").write_text("# Notes by hand\n")
    res = everett.run(cfg, progress=False, command="infwidth experiment everett --preset tiny")
    text = (tmp_path / "everett.md").read_text()
    assert text.startswith("# Notes by hand") and "BEGIN GENERATED everett" in text
    for part in ("### A.", "ntk untuned | = sp (Adam symmetry)", "mf tuned | = mup", "### D.", "### E.",
                 "sp-global", "mid alignment", "paired by seed", "seeds [0, 1]"):
        assert part in text, part
    labels = [c["label"] for c in res["curves"]]
    assert labels[:4] == ["sp untuned", "sp tuned", "ntk untuned", "ntk tuned"]
    assert (tmp_path / "everett_transfer.png").stat().st_size > 10_000 and (tmp_path / "everett_eps.png").exists()
    everett.run(cfg, progress=False)  # rerun: every trial is reused, the prose stays
    assert (tmp_path / "everett.md").read_text().startswith("# Notes by hand")


def test_sp_equals_ntk_and_mup_equals_mf_under_adam(tmp_path: Path) -> None:
    """Adam's symmetry (a, b, c) -> (a + 1/2, b - 1/2, c - 1/2) on the hidden and readout layers maps SP's
    derived exponents to NTK's and muP's to MF's: the same training (eps aside), here to float32 rounding."""
    from infwidth.errors import InfwidthError

    cfg = config_for("tiny", out=tmp_path)
    try:
        everett._cifar(None)
    except InfwidthError as e:
        pytest.skip(f"CIFAR-10 not available: {e}")
    losses = {}
    for p in ("sp", "ntk", "mup", "mf"):
        t = everett._trial(cfg, parametrization=p, width=64, lr=2.0**-9, seed=0, steps=3, mult_readout=2.0)
        losses[p] = everett.run_everett_trial(t)["loss"]
    assert abs(losses["sp"] - losses["ntk"]) < 1e-4 and abs(losses["mup"] - losses["mf"]) < 1e-4
    assert abs(losses["sp"] - losses["mup"]) > 1e-3  # and the two classes differ
    assert np.isfinite(list(losses.values())).all()


def test_stages_subset_runs_only_those(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--stages: only the named stages run (after the constant search); the report names the others."""
    seen: list[dict[str, Any]] = []

    def fake(p: dict[str, Any]) -> dict[str, Any]:
        seen.append(p)
        return _fake(p)

    monkeypatch.setattr(everett, "run_everett_trial", fake)
    cfg = config_for("tiny", out=tmp_path, log2_lrs=tuple(v / 2 for v in range(-30, -9)), seeds=(0, 1),
                     stages=("eq8", "eps"))
    res = everett.run(cfg, progress=False)
    assert [c["label"] for c in res["curves"]] == ["sp tuned, TP4 Eq. (8) (emb/hid LR x n^-1/2)"]
    assert res["eps"] and not res["scans"] and not res["alignment"]
    assert not any(p["parametrization"] in ("ntk", "mf") or p["alignment"] != "full" for p in seen)
    text = (tmp_path / "everett.md").read_text()
    assert "Stages not run in this result (`--stages`): transfer, alignment-mid, alignment-none, sp-global, " \
           "scans, measured-alignment, sp-measured-omega." in text
    with pytest.raises(everett.InfwidthError, match="unknown stage"):
        everett.run(config_for("tiny", out=tmp_path, stages=("bogus",)), progress=False)


def test_measured_omega_curve_uses_the_readout_slope(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stage G: the extra LR exponent of SP's embedding and hidden layers is the readout's measured omega - 1/2,
    and omega is the slope of the W_0 Delta z ratio in log2(width) (ratio ~ n^omega; 1/2 = independent)."""

    def fake(p: dict[str, Any]) -> dict[str, Any]:
        out = _fake(p)
        if p.get("track_alignment"):
            n = int(p["width"])
            out["measured_alignment"] = {"2": {"ratio_omega": n ** 0.5, "omega": 0.5},
                                         "4": {"ratio_omega": 3.0 * n ** 0.8, "omega": 0.8}}
        return out

    monkeypatch.setattr(everett, "run_everett_trial", fake)
    cfg = config_for("tiny", out=tmp_path, log2_lrs=tuple(v / 2 for v in range(-30, -9)), seeds=(0, 1),
                     stages=("measured-alignment", "sp-measured-omega"))
    res = everett.run(cfg, progress=False)
    sp = next(a for a in res["alignment"] if a["parametrization"] == "sp")
    assert sp["layers"]["2"]["omega"] == pytest.approx(0.5) and sp["layers"]["4"]["omega"] == pytest.approx(0.8)
    (g,) = res["curves"]
    assert g["extra_exponent"] == pytest.approx(0.3) and g["measured_omega"] == pytest.approx(0.8)
    assert all(r["extra_c_hidden"] == pytest.approx(0.3) for r in g["rows"])


def test_divergence_is_the_sweep_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A finite loss above DIVERGENCE_FACTOR x the initial one is divergence, as in every other sweep: the
    sweep treats it as infinitely bad (the optimum avoids it); a real trial reports the rule's fields."""
    from infwidth.errors import InfwidthError
    from infwidth.experiments.everett_report import loss_or_inf

    assert loss_or_inf({"loss": 40.0, "diverged": True}) == math.inf
    assert loss_or_inf({"loss": 40.0, "diverged": "True"}) == math.inf  # as read back from a CSV
    assert loss_or_inf({"loss": 2.0, "diverged": False}) == 2.0

    def fake(p: dict[str, Any]) -> dict[str, Any]:  # LRs above the optimum diverge, with a *low* loss kept
        r = _fake(p)
        if math.log2(float(p["lr"])) > _opt(int(p["width"])) + 0.75:
            r.update(loss=0.5, diverged=True, reason="final loss 0.5 flagged")
        return r

    monkeypatch.setattr(everett, "run_everett_trial", fake)
    lo, best, _ = Runner(_cfg(tmp_path), progress=False).lr_sweep(64, [0, 1], center=-14.0, parametrization="sp")
    assert lo <= _opt(64) + 0.75 and best >= 2.0  # the flagged trials' 0.5 is never the optimum
    try:
        everett._cifar(None)
    except InfwidthError as e:
        pytest.skip(f"CIFAR-10 not available: {e}")
    monkeypatch.undo()
    out = everett.run_everett_trial(everett._trial(config_for("tiny", out=tmp_path), parametrization="sp",
                                                   width=16, lr=2.0**-9, seed=0, steps=2))
    assert out["diverged"] is False and out["reason"] is None and math.isfinite(out["initial_loss"])
