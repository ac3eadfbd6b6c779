"""Coordinate check for any ``torch.nn.Module``: measured width exponents of every module's output,
compared with the derivation, with a verdict.

``coord_check_model(factory, widths, ...)`` builds ``factory(width)`` for each width and seed (and a base
model ``factory(base_width)``), scales it (``infwidth.scaling.module``; ``sp-global`` leaves the model as
its authors wrote it and uses one learning rate), trains it for ``steps`` optimizer steps on one fixed
batch and records, through forward hooks on **every** module, the root-mean-square (RMS) of the
module's output on that batch at initialization and of its change after t = 1..steps steps. For each
module and step the slope of log2(RMS) against log2(width) is fitted over all (width, seed) points with
a 95% t-interval and compared with the prediction of ``predict`` (derived from
``infwidth.scaling.exponents``, nothing per model).

Which outputs are **hidden** and which are **logits** is read off the model, not its names: an output
whose shape changes with the width is a width-sized (hidden) vector; an output whose shape is the same
at every width is a readout of width-sized vectors (logits), unless training never changes it at all
(e.g. a rotary-position table): then it is **constant** and not judged. Outputs that are the same tensor
as an inner module's (a model returning its head's output) are reported once, under the inner module.

The model runs in eval mode (no dropout) except batch-norm layers, which use batch statistics as in
training; the training batch is the probe batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import torch
from torch import nn

from infwidth.errors import InfwidthError
from infwidth.nn.coordcheck import UNCLEAR_HALF_WIDTH, fit_slope
from infwidth.parametrization.rational import fmt
from infwidth.scaling.factory import Factory, build
from infwidth.scaling.predict import Prediction, predict
from infwidth.scaling.probe import Recorder, call, eval_mode, first_tensor, parse_data, resolve_inputs
from infwidth.scaling.roles import canonical_name

OPTIMIZERS = ("adam", "adam-atan2", "sgd")
KINDS = ("hidden", "logits")
DEFAULT_LR = {"adam": 1e-3, "adam-atan2": 1e-3, "sgd": 0.05}
#: The derived exponents of different parametrizations differ by multiples of 1/2, so a slope within 1/4
#: of its prediction is nearer to it than to any other multiple of 1/2.
TOL = 0.25


def _loss(logits: torch.Tensor, labels: torch.Tensor | None, loss: str | Callable[..., torch.Tensor],
          gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The training loss and the labels used (drawn once per seed when not given)."""
    if callable(loss):
        return loss(logits, labels), labels if labels is not None else torch.empty(0)
    kind = loss if loss != "auto" else ("xent" if logits.shape[-1] > 1 else "mse")
    if labels is None:
        labels = (torch.randint(0, logits.shape[-1], logits.shape[:-1], generator=gen) if kind == "xent"
                  else torch.randn(logits.shape, generator=gen))
    labels = labels.to(logits.device)
    if kind == "xent":
        if labels.shape != logits.shape[:-1]:
            raise InfwidthError(f"labels of shape {tuple(labels.shape)} do not fit logits of shape "
                                f"{tuple(logits.shape)}; cross-entropy needs labels of shape logits.shape[:-1].")
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1).long()), \
            labels
    return nn.functional.mse_loss(logits.float(), labels.to(logits.dtype).reshape(logits.shape).float()), labels


def _cat_rms(ts: Sequence[torch.Tensor]) -> float:
    n = sum(t.numel() for t in ts)
    return math.sqrt(sum(float(t.double().pow(2).sum()) for t in ts) / n) if n else 0.0


@dataclass
class _Run:
    shapes: dict[str, tuple[tuple[int, ...], ...]]  # module -> shapes of its outputs (one per call)
    sizes: dict[tuple[str, int], float]  # (module, step) -> RMS of the output (0) or of its change (t)
    params: dict[str, dict[str, tuple[tuple[int, ...], bool]]]  # module -> own parameter -> (shape, nonzero)
    tied: set[str] = field(default_factory=set)  # modules holding a tensor that another module holds too
    diverged_at: int | None = None


@dataclass(frozen=True)
class CheckConfig:
    """What ``coord_check_model`` ran: everything needed to repeat it (``spec`` names the factory)."""

    spec: str
    widths: tuple[int, ...]
    base_width: int
    parametrization: str
    optimizer: str
    lr: float
    steps: int
    seeds: int
    batch_size: int
    data: str
    loss: str
    tol: float
    alignment: str
    dtype: str


def _optimizer(model: nn.Module, base: nn.Module, cfg: CheckConfig) -> torch.optim.Optimizer:
    from infwidth.sweep.trial import scaled_optimizer

    return scaled_optimizer(model, base, cfg.parametrization, cfg.optimizer, cfg.lr)


def _run_one(factory: Factory, cfg: CheckConfig, width: int, seed: int, inputs: Any, labels: torch.Tensor | None,
             loss: str | Callable[..., torch.Tensor], dtype: torch.dtype | None, device: Any) -> _Run:
    """Build, scale and train one model; RMS of every module's output at init and of its change per step."""
    torch.manual_seed(seed)
    model = build(factory, width, cfg.spec).to(device=device, dtype=dtype)
    base = build(factory, cfg.base_width, cfg.spec).to(dtype=dtype)
    opt = _optimizer(model, base, cfg)
    del base
    eval_mode(model)
    rec = Recorder(model)
    gen = torch.Generator().manual_seed(20_000 + seed)  # same labels at every width
    try:
        init = rec.probe(model, inputs)
        own: dict[str, dict[str, tuple[tuple[int, ...], bool]]] = {}
        for pname, p in model.named_parameters():
            module, _, leaf = canonical_name(pname).rpartition(".")
            own.setdefault(module or "(model)", {})[leaf] = (tuple(p.shape), bool(p.detach().ne(0).any()))
        run = _Run({k: tuple(tuple(t.shape) for t in v) for k, v in init.items()},
                   {(k, 0): _cat_rms(v) for k, v in init.items()}, own, _tied_modules(model))
        for t in range(1, cfg.steps + 1):
            opt.zero_grad(set_to_none=True)
            logits = first_tensor(call(model, inputs))
            if logits is None:
                raise InfwidthError(f"{cfg.spec}({width}) returned no floating-point tensor to train on; return "
                                    "the logits (a tensor, a tuple starting with it, or an output with .logits).")
            value, labels = _loss(logits, labels, loss, gen)
            if not math.isfinite(float(value.detach())):
                run.diverged_at = t
                break
            value.backward()
            opt.step()
            now = rec.probe(model, inputs)
            for k, v in init.items():
                w = now.get(k)
                if w is not None and tuple(tuple(x.shape) for x in w) == run.shapes[k]:
                    run.sizes[(k, t)] = _cat_rms([b - a for a, b in zip(v, w)])
    finally:
        rec.remove()
    if run.diverged_at is not None:
        for k in run.shapes:
            for t in range(run.diverged_at, cfg.steps + 1):
                run.sizes[(k, t)] = math.inf
    return run


@dataclass(frozen=True)
class ModuleFit:
    """Slope of log2 RMS vs log2 width of one module's output at one step (0: init, t: change after t steps)."""

    module: str
    kind: str
    step: int
    predicted: tuple[Fraction, Fraction] | None
    slope: float
    ci_low: float
    ci_high: float
    n_points: int
    verdict: str  # pass, FAIL, unclear (CI too wide), - (not enough points)

    @property
    def distance(self) -> float:
        """How far the slope lies outside the predicted band (0 inside; inf when not measured)."""
        if not math.isfinite(self.slope) or self.predicted is None:
            return math.inf if self.predicted is not None else 0.0
        return max(float(self.predicted[0]) - self.slope, self.slope - float(self.predicted[1]), 0.0)

    def quantity(self) -> str:
        return f"{self.module} {'at init' if self.step == 0 else f'change t={self.step}'}"

    def row(self) -> dict[str, Any]:
        p = self.predicted
        pred = "-" if p is None else fmt(p[0]) if p[0] == p[1] else f"[{fmt(p[0])}, {fmt(p[1])}]"
        return {"module": self.module, "kind": self.kind, "step": self.step, "predicted": pred, "slope": self.slope,
                "ci_low": self.ci_low, "ci_high": self.ci_high, "n_points": self.n_points, "verdict": self.verdict}


def band_verdict(band: tuple[Fraction, Fraction], slope: float, lo: float, hi: float, tol: float) -> str:
    """pass when the slope is within ``tol`` of the predicted band or the 95% CI meets it; unclear when the
    CI is wider than +-UNCLEAR_HALF_WIDTH (add seeds or widths); FAIL otherwise; - when not measured."""
    if not math.isfinite(slope):
        return "-"
    b0, b1 = float(band[0]), float(band[1])
    if b0 - tol <= slope <= b1 + tol or (math.isfinite(lo) and lo <= b1 and hi >= b0):
        return "pass"
    if math.isfinite(lo) and (hi - lo) / 2 > UNCLEAR_HALF_WIDTH:
        return "unclear"
    return "FAIL"


@dataclass
class ModelCheckResult:
    """Raw sizes, per-module kinds and fits, and the verdict of a coordinate check of any model.

    ``verdict``: PASS (every judged output scales as predicted, nothing grows), FAIL (some output does not:
    ``offenders`` lists them, worst first) or FLAGGED (the derivation predicts growth, e.g. SP with one
    global learning rate, and the measured changes do grow with width).
    """

    config: CheckConfig
    prediction: Prediction
    data: str
    records: list[dict[str, Any]] = field(default_factory=list)  # module, step, width, seed, size
    kinds: dict[str, str] = field(default_factory=dict)  # module -> hidden / logits / constant
    offsets: dict[str, str] = field(default_factory=dict)  # logits module -> why f_0 has a Theta(1) part
    fits: list[ModuleFit] = field(default_factory=list)
    diverged: list[dict[str, int]] = field(default_factory=list)  # width, seed, step

    def judged(self) -> list[ModuleFit]:
        return [f for f in self.fits if f.kind in KINDS and f.verdict != "-"]

    @property
    def offenders(self) -> list[ModuleFit]:
        """Fits that are not a pass, the farthest from their prediction first."""
        return sorted((f for f in self.judged() if f.verdict != "pass"), key=lambda f: -f.distance)

    @property
    def grows(self) -> list[ModuleFit]:
        """Changes (t >= 1) whose whole 95% CI lies above ``tol``: they grow with width."""
        return sorted((f for f in self.fits if f.kind in KINDS and f.step > 0 and f.ci_low > self.config.tol),
                      key=lambda f: -f.slope)

    @property
    def verdict(self) -> str:
        if not self.prediction.stable:
            return "FLAGGED" if self.grows or self.diverged else "FAIL"
        return "PASS" if self.judged() and not self.offenders and not self.grows and not self.diverged else "FAIL"

    @property
    def ok(self) -> bool:
        """Whether the measurement agrees with the derivation (PASS, or FLAGGED where growth is predicted)."""
        return self.verdict == ("PASS" if self.prediction.stable else "FLAGGED")

    @property
    def shown_step(self) -> int:
        """The step that figures and tables show: the last one, or the first when growth is predicted (after a
        blow-up only the first step's exponents are predicted)."""
        return self.config.steps if self.prediction.stable else 1

    def worst(self, kind: str, step: int | None = None) -> ModuleFit | None:
        """The ``kind`` output whose change at ``step`` (default: ``shown_step``) is the farthest from
        width-independent (largest |slope|)."""
        t = self.shown_step if step is None else step
        cands = [f for f in self.fits if f.kind == kind and f.step == t and math.isfinite(f.slope)]
        return max(cands, key=lambda f: abs(f.slope)) if cands else None

    def summary(self) -> str:
        """One line: the verdict and the worst offenders (or the growing outputs when FLAGGED)."""
        def name(fs: Sequence[ModuleFit]) -> str:
            return "; ".join(f"{f.quantity()} {f.slope:+.2f} (predicted {f.row()['predicted']})" for f in fs[:4]) \
                + (f"; and {len(fs) - 4} more" if len(fs) > 4 else "")
        n = len(self.judged())
        if self.diverged:
            d = self.diverged[0]
            head = f"training diverged (width {d['width']}, seed {d['seed']}, step {d['step']}); "
        else:
            head = ""
        if self.verdict == "PASS":
            return f"PASS: all {n} judged exponents match the derivation ({self.prediction.parametrization}, " \
                   f"{self.config.optimizer})."
        if self.verdict == "FLAGGED":
            return (f"FLAGGED: {head}updates grow with width, as the derivation predicts for "
                    f"{self.prediction.parametrization} + {self.config.optimizer} (hidden up to n^"
                    f"{fmt(self.prediction.hidden_delta[1])}, logits n^{fmt(self.prediction.logits_delta)}): "
                    f"{name(self.grows)}.")
        if not self.prediction.stable:
            return f"FAIL: {head}the derivation predicts growing updates but none was measured to grow."
        bad = self.offenders + [f for f in self.grows if f not in self.offenders]
        return f"FAIL: {head}{len(bad)} of {n} exponents differ from the derivation; worst: {name(bad)}."

    def table_row(self) -> dict[str, Any]:
        """Worst hidden change slope, logits change slope (last step), verdict: one row of the zoo table."""
        h, g = self.worst("hidden"), self.worst("logits")
        return {"model": self.config.spec, "parametrization": self.config.parametrization,
                "optimizer": self.config.optimizer,
                "worst_hidden_module": h.module if h else "", "worst_hidden_slope": h.slope if h else math.nan,
                "worst_hidden_ci": [h.ci_low, h.ci_high] if h else None,
                "logits_module": g.module if g else "", "logits_slope": g.slope if g else math.nan,
                "logits_ci": [g.ci_low, g.ci_high] if g else None, "verdict": self.verdict}

    def to_json(self) -> dict[str, Any]:
        """Summary, kinds and fits (not the raw records) as a JSON-ready dict."""
        cfg = self.config
        return {"model": cfg.spec, "widths": list(cfg.widths), "base_width": cfg.base_width,
                "parametrization": cfg.parametrization, "optimizer": cfg.optimizer, "lr": cfg.lr,
                "steps": cfg.steps, "seeds": cfg.seeds, "batch_size": cfg.batch_size, "data": self.data,
                "loss": cfg.loss, "tol": cfg.tol, "alignment": cfg.alignment, "dtype": cfg.dtype,
                "prediction": self.prediction.to_json(), "verdict": self.verdict, "ok": self.ok,
                "summary": self.summary(), "table_row": self.table_row(), "diverged": self.diverged,
                "kinds": self.kinds, "offsets": self.offsets, "fits": [f.row() for f in self.fits]}


def _classify(runs: Mapping[tuple[int, int], _Run]) -> dict[str, str]:
    """hidden (output shape changes with width), logits (same shape, changed by training), constant."""
    names = set.intersection(*(set(r.shapes) for r in runs.values()))
    kinds = {}
    for name in (n for n in next(iter(runs.values())).shapes if n in names):  # forward order
        shapes = {r.shapes[name] for r in runs.values()}
        if len(shapes) > 1:
            kinds[name] = "hidden"
            continue
        moved = any(v != 0.0 for r in runs.values() for (k, t), v in r.sizes.items() if k == name and t > 0)
        kinds[name] = "logits" if moved else "constant"
    return kinds


def _tied_modules(model: nn.Module) -> set[str]:
    """Modules holding a tensor that another module holds too (tied weights), by canonical name."""
    owners: dict[int, set[str]] = {}
    for pname, p in model.named_parameters(remove_duplicate=False):
        owners.setdefault(id(p), set()).add(canonical_name(pname).rpartition(".")[0] or "(model)")
    return {m for names in owners.values() if len(names) > 1 for m in names}


def _offsets(runs: Mapping[tuple[int, int], _Run], kinds: Mapping[str, str]) -> dict[str, str]:
    """Logits modules whose f_0 has a width-independent part, with the reason: a nonzero parameter of the same
    shape at every width (a readout bias beta: f_0 = W_0 z + beta), or a weight tied to an input embedding
    (the residual stream carries the input token's own embedding e, and e . e / m is a Law-of-Large-Numbers sum:
    that token's logit is Theta(1)). Their init slope then lies between the readout's exponent and 0."""
    out = {}
    for name in (n for n, k in kinds.items() if k == "logits"):
        per_run = [r.params.get(name, {}) for r in runs.values()]
        for leaf in set.intersection(*(set(p) for p in per_run)):
            if len({p[leaf][0] for p in per_run}) == 1 and any(p[leaf][1] for p in per_run):
                out[name] = f"nonzero width-independent {leaf}"
                break
        if name not in out and any(name in r.tied for r in runs.values()):
            out[name] = "weight tied to an input embedding"
    return out


def _fits(result: ModelCheckResult) -> list[ModuleFit]:
    pts: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for r in result.records:
        if r["size"] > 0 and math.isfinite(r["size"]) and r["module"] in result.kinds:
            pts.setdefault((r["module"], r["step"]), []).append((math.log2(r["width"]), math.log2(r["size"])))
    out = []
    for (name, step), xy in sorted(pts.items(), key=lambda kv: (kv[0][1], list(result.kinds).index(kv[0][0]))):
        kind = result.kinds[name]
        band = result.prediction.band(kind, step) if kind in KINDS else None
        if band is not None and step == 0 and name in result.offsets:
            band = (band[0], max(band[1], Fraction(0)))
        slope, lo, hi = fit_slope([p[0] for p in xy], [p[1] for p in xy])
        verdict = band_verdict(band, slope, lo, hi, result.config.tol) if band is not None else "-"
        out.append(ModuleFit(name, kind, step, band, slope, lo, hi, len(xy), verdict))
    return out


def _check_args(widths: Sequence[int], base_width: int | None, parametrization: str, optimizer: str, lr: float,
                steps: int, seeds: int, batch_size: int, tol: float, loss: Any, data: str) -> tuple[list[int], int]:
    ws = sorted({int(w) for w in widths})
    if len(ws) < 3 or ws[0] < 1:
        raise InfwidthError("a coordinate check needs at least 3 distinct positive widths to fit a slope, "
                            "e.g. --widths 64,128,256,512.")
    if optimizer not in OPTIMIZERS:
        raise InfwidthError(f"unknown optimizer {optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}.")
    predict(parametrization, optimizer)  # raises for an unknown parametrization
    for what, v in (("steps", steps), ("seeds", seeds), ("batch size", batch_size)):
        if int(v) < 1:
            raise InfwidthError(f"the number of {what} must be a positive integer, got {v}.")
    if not (math.isfinite(lr) and lr > 0) or not (math.isfinite(tol) and tol >= 0):
        raise InfwidthError("the learning rate must be a positive finite number and the tolerance finite and >= 0.")
    parse_data(data)  # raises for a malformed --data before any model is built
    if not callable(loss) and loss not in ("auto", "xent", "mse"):
        raise InfwidthError(f"unknown loss {loss!r}; choose auto, xent (cross-entropy) or mse.")
    bw = ws[0] if base_width is None else int(base_width)
    if bw < 1:
        raise InfwidthError(f"the base width must be a positive integer, got {bw}.")
    return ws, bw


def _iter_runs(ws: Sequence[int], seeds: int) -> Iterator[tuple[int, int]]:
    for seed in range(seeds):
        for w in ws:
            yield w, seed


def coord_check_model(factory: Factory, widths: Sequence[int] = (64, 128, 256, 512), *,
                      parametrization: str = "mup", optimizer: str = "adam", lr: float | None = None,
                      steps: int = 3, seeds: int = 2, base_width: int | None = None, data: str = "auto",
                      batch: Any = None, batch_size: int = 8, loss: str | Callable[..., torch.Tensor] = "auto",
                      tol: float = TOL, alignment: str = "full", dtype: torch.dtype | None = None,
                      device: Any = None, spec: str | None = None,
                      progress: Callable[[int, int], None] | None = None) -> ModelCheckResult:
    """Coordinate check of ``factory(width)`` across ``widths`` and ``seeds`` (module docstring).

    Inputs: ``factory`` (width -> nn.Module); ``parametrization`` sp/ntp/mfp/mup (scaled against
    ``factory(base_width)``, default the smallest width, with the derived per-layer learning rates) or
    sp-global (the model untouched, one learning rate); ``optimizer`` adam/adam-atan2/sgd; base ``lr``
    (default 1e-3 for Adam, 0.05 for SGD); ``data``: auto (from the first layer), tokens:VOCAB[:LENGTH],
    images:C[xHxW] or vectors:DIM, random per seed; or ``batch``: a tensor or ``{"inputs": ..., "labels":
    ...}`` used for every seed (inputs may be a tuple of arguments or a dict of keyword arguments);
    ``loss``: auto (cross-entropy on the output's last dimension against random labels, MSE for one
    output), xent, mse, or a callable (logits, labels) -> loss. Output: a ``ModelCheckResult``.
    """
    lr = DEFAULT_LR.get(optimizer, 1e-3) if lr is None else float(lr)
    ws, bw = _check_args(widths, base_width, parametrization, optimizer, lr, steps, seeds, batch_size, tol, loss, data)
    name = spec or str(getattr(factory, "__name__", "factory"))
    make, labels, described = resolve_inputs(factory, name, ws[0], data, batch, batch_size, dtype)
    cfg = CheckConfig(name, tuple(ws), bw, parametrization.strip().lower(), optimizer, lr, int(steps), int(seeds),
                      int(batch_size), described, loss if isinstance(loss, str) else "custom", float(tol),
                      alignment, str(dtype or torch.get_default_dtype()).replace("torch.", ""))
    result = ModelCheckResult(cfg, predict(parametrization, optimizer, alignment), described)
    runs: dict[tuple[int, int], _Run] = {}
    total = len(ws) * seeds
    for i, (w, seed) in enumerate(_iter_runs(ws, seeds)):
        inputs = make(seed)
        if device is not None:
            inputs = inputs.to(device) if isinstance(inputs, torch.Tensor) else inputs
        run = _run_one(factory, cfg, w, seed, inputs, labels, loss, dtype, device)
        runs[(w, seed)] = run
        if run.diverged_at is not None:
            result.diverged.append({"width": w, "seed": seed, "step": run.diverged_at})
        for (module, step), size in run.sizes.items():
            result.records.append({"module": module, "step": step, "width": w, "seed": seed, "size": size})
        if progress is not None:
            progress(i + 1, total)
    result.kinds = _classify(runs)
    result.offsets = _offsets(runs, result.kinds)
    result.fits = _fits(result)
    return result
