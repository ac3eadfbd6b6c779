"""Everett et al.'s headline claims as experiments, on the CIFAR MLP of ``experiment transfer``.

The task is :mod:`infwidth.experiments.transfer`'s ``cifar-mlp`` (3072 -> w -> w -> 10, ReLU, Adam,
minibatches of CIFAR-10, metric: test cross-entropy on 1000 images). A separate module rather than
more options of ``transfer``: the stages below depend on each other (the search picks constants that
the transfer sweep then uses) and the epsilon stage records loss curves, not one final loss.

Stages (every trial is one row of a resumable :class:`~infwidth.sweep.SweepStore`):

A. **Constant search at the base width** (per parametrization, full-alignment exponents): a global-LR
   sweep with every per-layer multiplier 1; then one pass of a coordinate search over the LR
   multipliers of the readout, hidden and embedding layers (factors ``search_factors``), each at the
   current best global LR with the others held; then the global-LR sweep again with the chosen
   multipliers. At the base width every exponent gives multiplier 1, so these constants are the
   same for any exponent set and transfer unchanged to every width (Everett et al. Section 4).
B. **Transfer**: the global-LR sweep at every width, with multipliers 1 ("untuned") and with the
   searched ones ("tuned"): optimum per width, its drift per width doubling, the best loss per width.
C. **Alignment**: SP's exponents derived under no alignment and an intermediate one (alpha = u = 3/4,
   :class:`~infwidth.scaling.exponents.Alignment`), tuned constants, the same sweep; and SP with the
   embedding and hidden LRs shrunk by a further n^-1/2, which TP4's stability condition Eq. (8)
   (a_{L+1} + b_{L+1} + r >= 1: W_0^{L+1} Delta x^L adds up coherently) asks of SP's readout.
D. **Per-layer LR scan** at the base and the largest width (SP and muP): each layer's LR multiplier
   alone, the others at their tuned values; the shift of each layer's optimum with width is the
   exponent that layer is missing.
E. **Epsilon**: muP (tuned) in float32 with the loss multiplied by ``loss_scale`` so that gradient
   entries at large widths fall below a fixed epsilon: Adam with constant eps, Adam with eps scaled
   by the derived exponents (eps0 m^-e per layer), and Adam-atan2; training-loss curves per width.
F. **Measured alignment**: SP and muP trained at the tuned base LR at every width; per layer the ratio
   |W_0 Delta z| / (|W_0| |Delta z|) after training (RMS over a probe batch), which grows like n^omega with
   the fan-in n: omega = 1/2 for independent W_0 and Delta z (the CLT, what the derived exponents assume),
   1 for full correlation (the law of large numbers; TP4 Eq. (8) for the readout).
G. **SP with the measured omega**: SP (tuned) with the embedding and hidden LRs multiplied by a further
   n^-(omega - 1/2), omega the readout's measured in F (Eq. (8)'s argument with the measured exponent
   instead of omega = 1).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from infwidth.errors import InfwidthError
from infwidth.experiments.everett_report import RESULT_KEYS, STAGES, loss_or_inf
from infwidth.experiments.transfer import _cifar, drift, optimum
from infwidth.scaling.exponents import HALF, Alignment
from infwidth.sweep import SweepStore, run_sweep
from infwidth.sweep.trial import outcome

ROLES = ("embedding", "hidden", "readout")
ALIGNMENT_VARIANTS: dict[str, Alignment] = {
    "full": Alignment(Fraction(1), HALF, Fraction(1), "full"),
    "mid": Alignment(Fraction(3, 4), HALF, Fraction(3, 4), "mid"),
    "none": Alignment(HALF, HALF, HALF, "none"),
}


@dataclass
class EverettConfig:
    """What to run (defaults: 891 trials, about 2.5 h wall at nice 10 on the shared 2-core machine, docs/everett.md)."""

    parametrizations: Sequence[str] = ("sp", "ntk", "mup", "mf")
    widths: Sequence[int] = (64, 128, 256, 512, 1024)
    base_width: int = 64
    log2_lrs: Sequence[float] = tuple(v / 2 for v in range(-30, -7))  # 2^-15 .. 2^-4, half octaves
    seeds: Sequence[int] = (0, 1)
    extra_seeds_at_largest: Sequence[int] = (2,)
    steps: int = 100
    batch: int = 64
    search_factors: Sequence[float] = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    scan_factors: Sequence[float] = (0.0625, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0)
    scan_params: Sequence[str] = ("sp", "mup")
    eps_widths: Sequence[int] = (64, 256, 1024, 2048)
    eps_steps: int = 200
    eps_seeds: Sequence[int] = (0, 1, 2)
    eps: float = 1e-8
    loss_scale: float = 3e-5
    stages: Sequence[str] = STAGES
    data_dir: str | None = None
    out: Path = field(default_factory=lambda: Path("runs/everett"))


@functools.lru_cache(maxsize=16)
def layer_roles(width: int) -> dict[str, str]:
    """Canonical parameter name -> role of the CIFAR MLP, read off how shapes change with width (at the
    base width itself every parameter looks "fixed" to a plan against the base, so compare with 2x)."""
    from infwidth.scaling.models import mlp
    from infwidth.scaling.roles import infer_roles

    roles = infer_roles(mlp(2 * width, d_in=3072, d_out=10, depth=2), mlp(width, d_in=3072, d_out=10, depth=2))
    return {name: r.role for name, r in roles.items()}


PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {},
    "tiny": {"widths": (16, 32, 64), "base_width": 16, "log2_lrs": (-12.0, -10.0, -8.0, -6.0), "seeds": (0,),
             "extra_seeds_at_largest": (1,), "steps": 4, "batch": 16, "search_factors": (0.5, 1.0, 2.0),
             "scan_factors": (0.5, 1.0, 2.0), "eps_widths": (16, 64), "eps_steps": 8, "eps_seeds": (0, 1)},
}


def config_for(preset: str, **overrides: Any) -> EverettConfig:
    """The run size ``preset`` (cpu: the defaults; tiny: seconds, for tests) with ``overrides`` (None ignored)."""
    if preset not in PRESETS:
        raise InfwidthError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}.")
    kw = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    return EverettConfig(**kw)


def _groups(model: nn.Module, base: nn.Module, p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Scale ``model`` against ``base`` (parametrization, alignment) and build per-role optimizer groups
    with the constant multipliers ``mult_<role>`` and, for Adam, eps constant or scaled per layer."""
    from infwidth.scaling.module import apply, plan
    from infwidth.scaling.roles import canonical_name

    # plan() passes the alignment on to exponents.derive, which takes an Alignment as well as a name
    table = plan(model, base, str(p["parametrization"]), "adam",
                 ALIGNMENT_VARIANTS[str(p["alignment"])])  # type: ignore[arg-type]
    apply(model, table)
    roles = layer_roles(int(p["width"]))
    groups: list[dict[str, Any]] = []
    for name, param in model.named_parameters():
        s, role = table[name], roles[canonical_name(name)]
        const = float(p.get(f"mult_{role}", 1.0)) if role in ROLES else 1.0
        # optional extra LR exponent per role (lr x m^-extra): TP4 Eq. (8) variant of SP, see run()
        const *= s.width_mult ** -float(p.get(f"extra_c_{role}", 0.0))
        g: dict[str, Any] = {"params": [param], "lr": float(p["lr"]) * s.lr_mult * const}
        if p["optimizer"] == "adam":
            g["eps"] = float(p["eps"]) * (s.eps_mult if p.get("eps_mode") == "scaled" else 1.0)
        groups.append(g)
    return groups


def run_everett_trial(p: Mapping[str, Any]) -> dict[str, Any]:
    """One trial: train the CIFAR MLP; returns the test loss, divergence, and (``curve_every`` > 0) the
    unscaled training-loss curve and the median |gradient| / eps per role at the first step."""
    from infwidth.scaling.adam_atan2 import AdamAtan2
    from infwidth.scaling.models import mlp

    torch.set_num_threads(1)
    torch.manual_seed(int(p["seed"]))
    xtr, ytr, xte, yte = _cifar(p.get("data_dir"))
    model = mlp(int(p["width"]), d_in=3072, d_out=10, depth=2)
    base = mlp(int(p["base_width"]), d_in=3072, d_out=10, depth=2)
    if p.get("global_lr"):  # PyTorch's SP as is: default init, one learning rate and eps for every layer
        groups: list[dict[str, Any]] = [{"params": list(model.parameters()), "lr": float(p["lr"])}]
        if p["optimizer"] == "adam":
            groups[0]["eps"] = float(p["eps"])
    else:
        groups = _groups(model, base, p)
    opt: torch.optim.Optimizer = AdamAtan2(groups) if p["optimizer"] == "adam-atan2" else torch.optim.Adam(groups)
    g = torch.Generator().manual_seed(int(p["seed"]))
    scale, every = float(p.get("loss_scale", 1.0)), int(p.get("curve_every", 0))
    tracker = _Tracker(model, xte[:256]) if p.get("track_alignment") else None
    curve: list[float] = []
    grad_ratio: dict[str, float] = {}
    with torch.no_grad():  # the divergence rule's reference, as in every sweep (sweep.trial.outcome)
        initial = float(nn.functional.cross_entropy(model(xte), yte))
    for step in range(int(p["steps"])):
        i = torch.randint(0, len(xtr), (int(p["batch"]),), generator=g)
        loss = nn.functional.cross_entropy(model(xtr[i]), ytr[i])
        if not math.isfinite(float(loss.detach())):
            return {**outcome(initial, float("nan")), "curve": curve, "grad_over_eps": grad_ratio}
        if every and step % every == 0:
            curve.append(float(loss.detach()))
        opt.zero_grad()
        (loss * scale).backward()
        if step == 0 and every:
            grad_ratio = _grad_over_eps(model, p)
        opt.step()
    with torch.no_grad():
        final = float(nn.functional.cross_entropy(model(xte), yte))
    if tracker is not None:
        align = {r["layer"]: {k: r[k] for k in ("alpha", "omega", "u", "ratio_omega")} for r in tracker.log(step)}
    out = outcome(initial, final)  # diverged: non-finite, or above DIVERGENCE_FACTOR x the initial test loss
    if every:
        out.update(curve=curve, grad_over_eps=grad_ratio)
    if tracker is not None:
        out["measured_alignment"] = align
    return out


class _Tracker:
    """:class:`~infwidth.scaling.alignment.AlignmentTracker` plus the raw W_0 Delta z ratio per layer,
    |W_0 Delta z|_rms / (|W_0|_rms |Delta z|_rms), whose growth with width is the alignment exponent omega."""

    def __init__(self, model: nn.Module, probe: torch.Tensor) -> None:
        from infwidth.scaling.alignment import AlignmentTracker

        self.inner = AlignmentTracker(model, probe)

    def log(self, step: int) -> list[dict[str, Any]]:
        rows = self.inner.log(step)
        z = self.inner._inputs()
        for r in rows:
            w0, dz = self.inner.w0[r["layer"]].double(), (z[r["layer"]] - self.inner.z0[r["layer"]]).double()
            den = float(w0.pow(2).mean().sqrt() * dz.pow(2).mean().sqrt())
            r["ratio_omega"] = float((dz @ w0.T).pow(2).mean().sqrt()) / den if den > 0 else math.nan
        return rows


def _grad_over_eps(model: nn.Module, p: Mapping[str, Any]) -> dict[str, float]:
    """Median |gradient entry| / eps of each role's weight matrix (the loss scale included)."""
    from infwidth.scaling.roles import canonical_name

    roles = layer_roles(int(p["width"]))
    out: dict[str, float] = {}
    for name, param in model.named_parameters():
        r = roles[canonical_name(name)]
        if param.grad is not None and param.dim() == 2 and r not in out:
            out[r] = float(param.grad.abs().median()) / float(p["eps"])
    return out


def _trial(cfg: EverettConfig, **kw: Any) -> dict[str, Any]:
    t = {"task": "cifar-mlp", "parametrization": "mup", "alignment": "full", "optimizer": "adam", "eps": 1e-8,
         "eps_mode": "constant", "loss_scale": 1.0, "curve_every": 0, "base_width": cfg.base_width,
         "steps": cfg.steps, "batch": cfg.batch, "mult_embedding": 1.0, "mult_hidden": 1.0, "mult_readout": 1.0}
    t.update(kw)
    if cfg.data_dir is not None:
        t["data_dir"] = cfg.data_dir
    return t


class Runner:
    """Runs trial lists through the store (resumable) and looks results up by their parameters."""

    def __init__(self, cfg: EverettConfig, progress: bool = True) -> None:
        self.cfg, self.progress = cfg, progress
        self.store = SweepStore(Path(cfg.out) / "everett.sqlite")

    def run(self, trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
        run_sweep(trials, self.store, run_everett_trial, workers=1, progress=self.progress)
        from infwidth.sweep.store import trial_key

        by_key = {trial_key({k: v for k, v in r.items() if k not in RESULT_KEYS}): r for r in self.store.results()}
        return [by_key[trial_key(t)] for t in trials]

    def lr_sweep(self, width: int, seeds: Sequence[int], center: float | None = None,
                 **kw: Any) -> tuple[float, float, list[dict[str, Any]]]:
        """The global-LR sweep at one width: (log2 optimum, best mean loss, rows).

        The grid ``log2_lrs`` is evaluated outwards from the point nearest ``center`` (default: its
        middle) until the best mean loss has two evaluated grid points on each side or the grid ends."""
        grid = sorted(self.cfg.log2_lrs)
        i = int(np.argmin([abs(x - (np.median(grid) if center is None else center)) for x in grid]))
        lo, hi = max(0, i - 2), min(len(grid) - 1, i + 2)
        while True:
            trials = [_trial(self.cfg, width=width, lr=2.0**x, seed=s, **kw) for x in grid[lo:hi + 1] for s in seeds]
            rows = self.run(trials)
            _, means = _mean_by(rows, "lr")
            j = lo + int(np.argmin(means))
            if j - 2 < lo and lo > 0:
                lo -= 1
            elif j + 2 > hi and hi < len(grid) - 1:
                hi += 1
            else:
                return (*_optimum(rows), rows)


def _mean_by(rows: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """Mean loss over seeds per value of ``key`` (a diverged seed makes the mean infinite)."""
    by: dict[float, list[float]] = {}
    for r in rows:
        by.setdefault(float(r[key]), []).append(loss_or_inf(r))
    xs = sorted(by)
    return xs, [float(np.mean(by[x])) for x in xs]


def _optimum(rows: Sequence[Mapping[str, Any]]) -> tuple[float, float]:
    lrs, means = _mean_by(rows, "lr")
    lo, _ = optimum(lrs, means)
    return lo, min(means)


def search_constants(runner: Runner, param: str) -> dict[str, Any]:
    """Stage A for one parametrization: the stated coordinate search at the base width."""
    cfg = runner.cfg
    seeds, bw = list(cfg.seeds), cfg.base_width
    lr0, loss0, _ = runner.lr_sweep(bw, seeds, parametrization=param)
    mult = {r: 1.0 for r in ROLES}
    steps = []
    for role in ("readout", "hidden", "embedding"):
        trials = [_trial(cfg, parametrization=param, width=bw, lr=2.0**lr0, seed=s,
                         **{f"mult_{k}": (f if k == role else v) for k, v in mult.items()})
                  for f in cfg.search_factors for s in seeds]
        facs, means = _mean_by(runner.run(trials), f"mult_{role}")
        mult[role] = facs[int(np.argmin(means))]
        steps.append({"role": role, "factors": facs, "losses": means, "chosen": mult[role]})
    lr1, loss1, _ = runner.lr_sweep(bw, seeds, lr0, parametrization=param,
                                    **{f"mult_{k}": v for k, v in mult.items()})
    return {"parametrization": param, "log2_lr_untuned": lr0, "loss_untuned": loss0, "multipliers": mult,
            "steps": steps, "log2_lr_tuned": lr1, "loss_tuned": loss1}


def transfer_curve(runner: Runner, label: str, **kw: Any) -> dict[str, Any]:
    """Stages B/C: optimum and best loss per width, drift per doubling (seeds averaged), and the
    best loss at the largest width with the extra seeds (mean, SE over seeds)."""
    cfg = runner.cfg
    widths = sorted(cfg.widths)
    opts, best, rows = [], [], []
    center = None
    for w in widths:
        lo, b, r = runner.lr_sweep(w, list(cfg.seeds), center, **kw)
        center = lo
        opts.append(lo)
        best.append(b)
        rows += r
    s, se = drift(widths, opts)
    # what not transferring costs: mean loss at the largest width at the grid LR nearest the base optimum
    lrs_w, means_w = _mean_by([r for r in rows if int(r["width"]) == widths[-1]], "lr")
    k = int(np.argmin([abs(math.log2(x) - opts[0]) for x in lrs_w]))
    penalty = means_w[k] - best[-1]
    top_seeds = list(cfg.seeds) + list(cfg.extra_seeds_at_largest)
    _, _, top_rows = runner.lr_sweep(widths[-1], top_seeds, center, **kw)
    lrs, _ = _mean_by(top_rows, "lr")
    per_seed = []
    for sd in top_seeds:  # each seed's best loss over the grid at the largest width
        per_seed.append(min((loss_or_inf(r) for r in top_rows if int(r["seed"]) == sd), default=math.inf))
    arr = np.array(per_seed)
    return {"label": label, **{k: v for k, v in kw.items() if k in ("parametrization", "alignment")},
            "widths": widths, "log2_lr_opt": opts, "best_loss": best, "drift": s, "drift_se": se,
            "transfer_penalty": penalty, "transfer_penalty_log2_lr": math.log2(lrs_w[k]),
            "largest_width": widths[-1], "largest_best_loss_mean": float(arr.mean()),
            "largest_best_loss_se": float(arr.std(ddof=1) / math.sqrt(len(arr))) if len(arr) > 1 else math.nan,
            "largest_seeds": top_seeds, "largest_per_seed": per_seed, "rows": rows, "top_rows": top_rows, "lrs": lrs}


def layer_scan(runner: Runner, param: str, tuned: Mapping[str, Any]) -> dict[str, Any]:
    """Stage D: each layer's LR multiplier alone at the base and the largest width; the optimum's shift
    per width doubling is the exponent that layer's prescription is missing (0 = right)."""
    cfg = runner.cfg
    w_lo, w_hi = cfg.base_width, max(cfg.widths)
    mult = dict(tuned["multipliers"])
    out: dict[str, Any] = {"parametrization": param, "widths": [w_lo, w_hi], "roles": {}}
    for role in ROLES:
        per_width: list[dict[str, Any]] = []
        for w in (w_lo, w_hi):
            trials = [_trial(cfg, parametrization=param, width=w, lr=2.0 ** tuned["log2_lr_tuned"], seed=s,
                             **{f"mult_{k}": (v * f if k == role else v) for k, v in mult.items()})
                      for f in cfg.scan_factors for s in cfg.seeds]
            facs, means = _mean_by(runner.run(trials), f"mult_{role}")
            lo, interior = optimum([x / mult[role] for x in facs], means)
            per_width.append({"factors": [x / mult[role] for x in facs], "losses": means, "log2_opt": lo,
                              "interior": interior})
        shift = (per_width[1]["log2_opt"] - per_width[0]["log2_opt"]) / math.log2(w_hi / w_lo)
        out["roles"][role] = {"per_width": per_width, "missing_exponent": shift}
    return out


def alignment_by_width(runner: Runner, param: str, tuned: Mapping[str, Any]) -> dict[str, Any]:
    """Stage F: train at the tuned base LR at every width (seed 0) and measure, per layer, the W_0 Delta z
    ratio after training; the ratio grows like n^omega (1/2: independent, 1: fully aligned), so its slope in
    log2(width) is the measured omega."""
    cfg = runner.cfg
    widths = sorted(cfg.widths)
    trials = [_trial(cfg, parametrization=param, width=w, lr=2.0 ** tuned["log2_lr_tuned"], seed=0,
                     track_alignment=True, **{f"mult_{k}": v for k, v in tuned["multipliers"].items()})
              for w in widths]
    rows = runner.run(trials)
    layers = list(next((r["measured_alignment"] for r in rows if "measured_alignment" in r), {}))
    out: dict[str, Any] = {"parametrization": param, "widths": widths, "layers": {}}
    for layer in layers:
        ratios = [float(r["measured_alignment"][layer]["ratio_omega"]) if "measured_alignment" in r else math.nan
                  for r in rows]
        x, y = np.log2(widths), np.log2(ratios)
        slope = float(np.polyfit(x, y, 1)[0]) if np.all(np.isfinite(y)) else math.nan
        out["layers"][layer] = {"ratio_omega": ratios, "omega": slope,
                                "omega_at_largest": float(rows[-1]["measured_alignment"][layer]["omega"])
                                if "measured_alignment" in rows[-1] else math.nan}
    return out


def eps_curves(runner: Runner, tuned: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Stage E: muP with the loss scaled by ``loss_scale``: constant eps, scaled eps, Adam-atan2."""
    cfg = runner.cfg
    every = max(1, cfg.eps_steps // 40)
    variants: list[tuple[str, dict[str, Any]]] = [
                ("Adam, constant eps", {"optimizer": "adam", "eps_mode": "constant"}),
                ("Adam, eps scaled by the derived exponents", {"optimizer": "adam", "eps_mode": "scaled"}),
                ("Adam-atan2 (no eps)", {"optimizer": "adam-atan2"}),
                ("Adam, constant eps, loss scale 1", {"optimizer": "adam", "eps_mode": "constant", "loss_scale": 1.0})]
    trials, labels = [], []
    for seed in cfg.eps_seeds:
        for label, v in variants:
            for w in cfg.eps_widths:
                trials.append(_trial(cfg, parametrization="mup", width=w, lr=2.0 ** tuned["log2_lr_tuned"],
                                     seed=seed, steps=cfg.eps_steps, eps=cfg.eps, curve_every=every,
                                     loss_scale=v.get("loss_scale", cfg.loss_scale),
                                     **{f"mult_{k}": x for k, x in tuned["multipliers"].items()},
                                     **{k: x for k, x in v.items() if k != "loss_scale"}))
                labels.append(label)
    rows = runner.run(trials)
    return [{"variant": lab, "width": int(r["width"]), "seed": int(r["seed"]), "curve_every": every,
             "curve": r.get("curve", []), "loss": r["loss"], "grad_over_eps": r.get("grad_over_eps", {}),
             "loss_scale": r["loss_scale"]} for lab, r in zip(labels, rows)]


#: Adam's symmetry (a, b, c) -> (a + theta, b - theta, c - theta) with theta = 1/2 on the hidden and
#: readout layers maps SP's derived exponents onto NTK's and muP's onto MF's: the same training up to eps.
EQUIVALENT = {"ntk": "sp", "mf": "mup"}


def equivalent_curve(runner: Runner, p: str, q_curve: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """``p``'s transfer curve by the Adam symmetry from its partner's, checked on the partner's evaluated
    grid at the largest width: max |loss difference| over the common trials."""
    w = q_curve["largest_width"]
    mine = runner.run([_trial(runner.cfg, **{**{k: r[k] for k in _PARAM_KEYS if k in r}, "parametrization": p})
                       for r in q_curve["top_rows"]])
    diffs = [abs(float(a["loss"]) - float(b["loss"])) for a, b in zip(mine, q_curve["top_rows"])
             if math.isfinite(float(a["loss"])) and math.isfinite(float(b["loss"]))]
    same_div = all(bool(a["diverged"]) == bool(b["diverged"]) for a, b in zip(mine, q_curve["top_rows"]))
    label = q_curve["label"].replace(q_curve["parametrization"], p, 1)
    return {**q_curve, "label": label, "parametrization": p, "equivalent_to": q_curve["parametrization"],
            "check_width": w, "check_trials": len(mine), "check_max_abs_diff": max(diffs) if diffs else math.nan,
            "check_same_divergence": same_div, "rows": [], "top_rows": mine}


_PARAM_KEYS = ("task", "parametrization", "alignment", "optimizer", "eps", "eps_mode", "loss_scale", "curve_every",
               "base_width", "steps", "batch", "mult_embedding", "mult_hidden", "mult_readout", "width", "lr", "seed",
               "data_dir", "global_lr", "track_alignment", "extra_c_embedding", "extra_c_hidden")


def measured_omega_curve(runner: Runner, sp_align: Mapping[str, Any],
                         tuned: Mapping[str, float]) -> dict[str, Any] | None:
    """Stage G: SP (tuned) with the embedding and hidden LRs x n^-(omega - 1/2), omega the readout's measured
    W_0 Delta z exponent (stage F; rounded to 0.01 so that reruns reuse the trials). None when F measured
    no finite omega."""
    if not sp_align["layers"]:
        return None
    readout = list(sp_align["layers"])[-1]
    omega = float(sp_align["layers"][readout]["omega"])
    if not math.isfinite(omega):
        return None
    extra = round(omega - 0.5, 2)
    c = transfer_curve(runner, f"sp tuned, emb/hid LR x n^-{extra:g} (readout omega {omega:.2f} measured)",
                       parametrization="sp", extra_c_embedding=extra, extra_c_hidden=extra, **tuned)
    return {**c, "measured_omega": omega, "extra_exponent": extra}


def _transfer_curves(runner: Runner, params: Sequence[str], tuned: Mapping[str, float]) -> list[dict[str, Any]]:
    """Stage B: untuned and tuned transfer curves per parametrization (NTK, MF from SP, muP by symmetry)."""
    by: dict[tuple[str, bool], dict[str, Any]] = {}
    for p in params:
        q = EQUIVALENT.get(p)
        for is_tuned, extra in ((False, {}), (True, tuned)):
            label = f"{p} {'tuned' if is_tuned else 'untuned'}"
            if q is not None and q in params:
                if (q, is_tuned) not in by:
                    by[(q, is_tuned)] = transfer_curve(runner, label.replace(p, q, 1), parametrization=q, **extra)
                c = equivalent_curve(runner, p, by[(q, is_tuned)])
            else:
                c = by.get((p, is_tuned)) or transfer_curve(runner, label, parametrization=p, **extra)
            by[(p, is_tuned)] = c
    return [by[(p, t)] for p in params for t in (False, True)]


def run(cfg: EverettConfig, progress: bool = True, command: str = "") -> dict[str, Any]:
    """All stages; writes ``everett.json`` (and, through :mod:`infwidth.experiments.everett_report`, the
    CSV, figures and the Markdown block) in ``cfg.out``. Output: the analysis dict.

    At the base width every parametrization is the same network (all width multipliers are 1), so the
    constant search runs once; NTK and MF are checked against SP and muP (:data:`EQUIVALENT`)."""
    from infwidth.experiments.everett_report import write_outputs

    for p in (*cfg.parametrizations, *cfg.scan_params):
        if p not in ("sp", "ntk", "mup", "mf"):
            raise InfwidthError(f"unknown parametrization {p!r}; choose from sp, ntk, mup, mf.")
    if cfg.base_width not in cfg.widths:
        raise InfwidthError(f"the base width {cfg.base_width} must be one of the widths {list(cfg.widths)}.")
    for st in cfg.stages:
        if st not in STAGES:
            raise InfwidthError(f"unknown stage {st!r}; choose from {', '.join(STAGES)}.")
    runner = Runner(cfg, progress)
    search = search_constants(runner, "mup")
    tuned = {f"mult_{k}": v for k, v in search["multipliers"].items()}
    stages = set(cfg.stages)
    curves = _transfer_curves(runner, cfg.parametrizations, tuned) if "transfer" in stages else []
    if "sp" in cfg.parametrizations:
        for al in ("mid", "none"):
            if f"alignment-{al}" in stages:
                curves.append(transfer_curve(runner, f"sp tuned, {al} alignment", parametrization="sp",
                                             alignment=al, **tuned))
        # TP4 Eq. (8): W_0^{L+1} Delta x^L is a sum of correlated terms, so SP's readout (a + b = 1/2) needs
        # r >= 1/2: the embedding and hidden updates (and their LRs, under Adam) must shrink like n^-1/2 more.
        if "eq8" in stages:
            curves.append(transfer_curve(runner, "sp tuned, TP4 Eq. (8) (emb/hid LR x n^-1/2)",
                                         parametrization="sp", extra_c_embedding=0.5, extra_c_hidden=0.5, **tuned))
    if "sp-global" in stages:
        curves.append(transfer_curve(runner, "sp-global (one LR, PyTorch SP)", parametrization="sp",
                                     global_lr=True))
    scans = [layer_scan(runner, p, search) for p in cfg.scan_params] if "scans" in stages else []
    eps = eps_curves(runner, search) if "eps" in stages else []
    # NTK and MF train like SP and muP under Adam (EQUIVALENT): measure the alignment of the others only
    own = [p for p in cfg.parametrizations if EQUIVALENT.get(p) not in cfg.parametrizations]
    align = [alignment_by_width(runner, p, search) for p in own] if "measured-alignment" in stages else []
    if "sp" in cfg.parametrizations and "sp-measured-omega" in stages:
        sp_align = next((a for a in align if a["parametrization"] == "sp"), None)
        g = measured_omega_curve(runner, sp_align or alignment_by_width(runner, "sp", search), tuned)
        if g is not None:
            curves.append(g)
    result = {"search": search, "curves": curves, "scans": scans, "eps": eps, "alignment": align,
              "stages_not_run": [st for st in STAGES if st not in stages]}
    write_outputs(cfg, result, command)
    return result
