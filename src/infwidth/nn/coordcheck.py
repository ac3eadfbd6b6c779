"""Coordinate check: measure how every quantity scales with width and compare with the algebra.

For each width n and seed, an :class:`AbcMLP` is trained by full-batch SGD (square loss) on a fixed
batch of Gaussian inputs for a few steps; the root-mean-square coordinate size of h^l_0, x^l_0, f_0,
Delta h^l_t, Delta x^l_t, Delta W^l_t x^{l-1}_t and Delta f_t is recorded. For each quantity the
slope of log2(size) against log2(n) is fitted by least squares over all (width, seed) points, with a
95% t-interval, and compared with the exponent of :func:`infwidth.nn.predicted_sizes.predicted_exponents`.
A quantity passes when |measured - predicted| <= ``tol`` or the prediction lies in the 95% CI;
it is "unclear" (counted as not passing) when the CI is wider than +-0.3.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import torch
from torch import Tensor

from infwidth.arch import Activation, MLPSpec, activation
from infwidth.errors import InfwidthError
from infwidth.nn.mlp import AbcMLP
from infwidth.nn.predicted_sizes import Quantity, predicted_exponents
from infwidth.parametrization import AbcParametrization, classify
from infwidth.parametrization.rational import fmt


@dataclass
class QuantityFit:
    """Fitted slope of one quantity: measured exponent, 95% CI, prediction and verdict."""

    quantity: Quantity
    predicted: Fraction | None
    slope: float
    ci_low: float
    ci_high: float
    n_points: int
    verdict: str  # "pass", "FAIL", "unclear" (CI too wide) or "-" (no prediction / no data)

    def row(self) -> dict[str, Any]:
        """A flat dict for CSV/JSON."""
        q = self.quantity
        return {"quantity": q.kind, "layer": q.layer, "step": q.step, "label": q.label,
                "predicted": None if self.predicted is None else fmt(self.predicted),
                "slope": self.slope, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "n_points": self.n_points, "verdict": self.verdict}


@dataclass
class CoordCheckResult:
    """Everything a coordinate check measured: raw sizes, fits and the overall verdicts."""

    param: AbcParametrization
    network_param: AbcParametrization
    widths: list[int]
    seeds: int
    steps: int
    eta: float
    tol: float
    phi: str
    records: list[dict[str, Any]] = field(default_factory=list)  # quantity, layer, step, width, seed, size
    fits: list[QuantityFit] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every predicted quantity matched (and at least one was predicted)."""
        checked = [f for f in self.fits if f.verdict != "-"]
        return bool(checked) and all(f.verdict == "pass" for f in checked)

    @property
    def blows_up(self) -> bool:
        """True when some update quantity (Delta ...) grows with width: its whole 95% CI is above ``tol``."""
        return any(f.quantity.step > 0 and f.ci_low > self.tol for f in self.fits)

    @property
    def predicted_stable(self) -> bool:
        """Whether the algebra says ``param`` is stable (Theorem 3.3)."""
        return classify(self.param).stable

    @property
    def ok(self) -> bool:
        """The check's bottom line: a stable parametrization passes every exponent and does not blow up;
        an unstable one is confirmed when its updates are measured to blow up."""
        return (self.passed and not self.blows_up) if self.predicted_stable else self.blows_up

    @property
    def verdict(self) -> str:
        """One line: whether the network matches the predicted scalings, and whether it blows up."""
        fails = [f.quantity.label for f in self.fits if f.verdict in ("FAIL", "unclear")]
        listed = f"{', '.join(fails[:4])}{', ...' if len(fails) > 4 else ''}"
        if not self.predicted_stable:
            if self.blows_up:
                extra = f" (asymptotic first-step exponents not yet reached for: {listed})" if fails else ""
                return "UNSTABLE as predicted (Theorem 3.3): updates BLOW UP with width" + extra
            return "FAIL: the algebra predicts a blow-up but the measured updates do not grow with width"
        head = "PASS: every measured exponent matches the prediction" if self.passed else (
            f"FAIL: {len(fails)} exponent(s) differ from the prediction or are too noisy to tell ({listed})")
        return head + ("; updates BLOW UP with width" if self.blows_up else "")

    def to_json(self) -> dict[str, Any]:
        """Summary (no raw records) as a JSON-ready dict."""
        k = classify(self.param)
        return {"parametrization": self.param.describe(), "network": self.network_param.describe(),
                "regime": k.regime, "r": fmt(k.r), "widths": self.widths, "seeds": self.seeds, "steps": self.steps,
                "eta": self.eta, "tol": self.tol, "phi": self.phi, "passed": self.passed, "blows_up": self.blows_up,
                "ok": self.ok, "predicted_stable": self.predicted_stable,
                "verdict": self.verdict, "fits": [f.row() for f in self.fits]}


def _rms(t: Tensor) -> float:
    return float(torch.sqrt(torch.mean(t.double() ** 2)))


def _measure_one(net: AbcMLP, X: Tensor, Y: Tensor, steps: int, eta: float) -> dict[Quantity, float]:
    """Train ``net`` for ``steps`` full-batch SGD steps on (X, Y) and return every quantity's size."""
    L = net.depth
    out: dict[Quantity, float] = {}
    with torch.no_grad():
        f0 = net.features(X)
        w0 = [w.detach().clone() for w in net.weights]
    for l in range(1, L + 1):
        out[Quantity("h0", l, 0)] = _rms(f0["h"][l - 1])
        out[Quantity("x0", l, 0)] = _rms(f0["x"][l - 1])
    out[Quantity("f0", 0, 0)] = _rms(f0["f"][0])
    for t in range(1, steps + 1):
        net.sgd_step(X, Y, eta, loss="mse")
        with torch.no_grad():
            ft = net.features(X)
            ins = [X] + ft["x"]
            for l in range(1, L + 1):
                out[Quantity("dh", l, t)] = _rms(ft["h"][l - 1] - f0["h"][l - 1])
                out[Quantity("dx", l, t)] = _rms(ft["x"][l - 1] - f0["x"][l - 1])
            for l in range(1, L + 2):
                dW = net.multiplier(l) * (net.weights[l - 1] - w0[l - 1])
                out[Quantity("dWx", l, t)] = _rms(ins[l - 1] @ dW.T)
            out[Quantity("df", 0, t)] = _rms(ft["f"][0] - f0["f"][0])
    return out


def fit_slope(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float, float]:
    """Least-squares slope of ys on xs with its 95% t-interval: (slope, low, high); NaNs if < 3 points."""
    import numpy as np
    from scipy import stats

    x, y = np.asarray(xs, float), np.asarray(ys, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3 or np.ptp(x) == 0:
        return math.nan, math.nan, math.nan
    res = stats.linregress(x, y)
    half = float(stats.t.ppf(0.975, len(x) - 2)) * float(res.stderr)
    return float(res.slope), float(res.slope) - half, float(res.slope) + half


UNCLEAR_HALF_WIDTH = 0.3


def _verdict(pred: Fraction | None, slope: float, lo: float, hi: float, tol: float) -> str:
    """"pass" when |slope - pred| <= tol or pred lies in the 95% CI; "unclear" when the CI is wider
    than +-UNCLEAR_HALF_WIDTH (too noisy: add seeds or widths); "FAIL" otherwise; "-" without a prediction."""
    if pred is None or not math.isfinite(slope):
        return "-"
    p = float(pred)
    if abs(slope - p) <= tol or (math.isfinite(lo) and lo <= p <= hi):
        return "pass"
    if math.isfinite(lo) and (hi - lo) / 2 > UNCLEAR_HALF_WIDTH:
        return "unclear"
    return "FAIL"


def coord_check(
    param: AbcParametrization,
    widths: Sequence[int] = (64, 128, 256, 512, 1024),
    seeds: int = 4,
    steps: int = 3,
    eta: float = 0.1,
    phi: str | Activation = "relu",
    d_in: int = 8,
    d_out: int = 8,
    batch: int = 16,
    tol: float = 0.15,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    network_param: AbcParametrization | None = None,
    decoupled_backprop: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> CoordCheckResult:
    """Run the coordinate check of ``param`` (predictions) on networks built from ``network_param``.

    ``network_param`` defaults to ``param``; give a different one to check that a mis-scaled
    network is caught. Inputs: a (batch, d_in) N(0, 1) batch and +-1 targets per seed, shared by all
    widths. Returns a :class:`CoordCheckResult` with raw records and per-quantity fits.
    """
    if len(widths) < 3:
        raise InfwidthError("a coordinate check needs at least 3 widths to fit a slope; give more --widths.")
    if seeds < 1 or steps < 1:
        raise InfwidthError("seeds and steps must be >= 1.")
    net_param = network_param or param
    if net_param.depth != param.depth:
        raise InfwidthError("the network's parametrization must have the same depth as the predicted one.")
    act = activation(phi)
    phi_name = act.name
    spec = MLPSpec(param.depth, d_in=d_in, d_out=d_out, phi=act, decoupled_backprop=decoupled_backprop)
    result = CoordCheckResult(param, net_param, sorted(int(w) for w in widths), seeds, steps, float(eta), tol, phi_name)
    total, done = len(result.widths) * seeds, 0
    for seed in range(seeds):
        g = torch.Generator().manual_seed(10_000 + seed)
        X = torch.randn(batch, d_in, generator=g, dtype=torch.float64).to(dtype=dtype, device=device)
        Y = (torch.randint(0, 2, (batch, d_out), generator=g) * 2 - 1).to(dtype=dtype, device=device)
        for n in result.widths:
            net = AbcMLP(spec, net_param, n, dtype=dtype, device=device, seed=1000 * seed + n)
            for q, v in _measure_one(net, X, Y, steps, eta).items():
                result.records.append({"quantity": q.kind, "layer": q.layer, "step": q.step, "label": q.label,
                                       "width": n, "seed": seed, "size": v})
            done += 1
            if progress is not None:
                progress(done, total)
    preds = predicted_exponents(param, steps, phi_name)
    for q, pred in preds.items():
        pts = [(math.log2(r["width"]), math.log2(r["size"])) for r in result.records
               if (r["quantity"], r["layer"], r["step"]) == (q.kind, q.layer, q.step) and r["size"] > 0
               and math.isfinite(r["size"])]
        slope, lo, hi = fit_slope([p[0] for p in pts], [p[1] for p in pts])
        verdict = _verdict(pred, slope, lo, hi, tol)
        result.fits.append(QuantityFit(q, pred, slope, lo, hi, len(pts), verdict))
    return result
