"""Predicted width exponents of a model's hidden outputs and logits, from the derivation alone.

``predict(parametrization, optimizer, alignment)`` turns ``infwidth.scaling.exponents``' derivation into
the exponents a coordinate check measures (RMS ~ width^e): hidden outputs and logits at initialization
and their change after one step (and after t >= 2 steps). Nothing here knows about a particular model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from infwidth.errors import InfwidthError
from infwidth.parametrization.rational import fmt
from infwidth.scaling.exponents import HALF, Alignment, LayerExponents, derive_layers, network, parametrization_name
from infwidth.scaling.exponents import alignment as _alignment


@dataclass(frozen=True)
class Prediction:
    """Predicted exponents e (RMS ~ width^e) for one parametrization, optimizer and alignment.

    ``hidden_init``/``logits_init``: outputs at initialization (hidden: (lo, hi) over the embedding and
    hidden layers); ``hidden_delta``/``logits_delta``: their change after the first step, whose gradients
    are taken at init; ``*_later``: after t >= 2 steps, when the backward pass also sees the updated
    weights (the derivation's steady state; predicted only when nothing grows). ``lr``: the learning-rate
    exponents (embedding, hidden, readout) the check trains with.
    """

    parametrization: str
    optimizer: str
    alignment: str
    lr: tuple[Fraction, Fraction, Fraction]
    hidden_init: tuple[Fraction, Fraction]
    logits_init: Fraction
    hidden_delta: tuple[Fraction, Fraction]
    logits_delta: Fraction
    hidden_delta_later: tuple[Fraction, Fraction]
    logits_delta_later: Fraction

    @property
    def stable(self) -> bool:
        """True when nothing is predicted to grow with width (init or change, at any step)."""
        return max(self.hidden_init[1], self.logits_init, self.hidden_delta[1], self.logits_delta,
                   self.hidden_delta_later[1], self.logits_delta_later) <= 0

    def band(self, kind: str, step: int) -> tuple[Fraction, Fraction] | None:
        """(lo, hi) predicted for a ``kind`` ("hidden"/"logits") output at ``step`` (0 = init), or None."""
        if step >= 2 and not self.stable:
            return None  # after a blow-up only the first step's exponents are predicted
        if kind == "hidden":
            return self.hidden_init if step == 0 else self.hidden_delta if step == 1 else self.hidden_delta_later
        v = self.logits_init if step == 0 else self.logits_delta if step == 1 else self.logits_delta_later
        return (v, v)

    def to_json(self) -> dict[str, Any]:
        """Exponents as strings."""
        return {"parametrization": self.parametrization, "optimizer": self.optimizer, "alignment": self.alignment,
                "lr_exponents": [fmt(v) for v in self.lr], "stable": self.stable,
                **{k: [fmt(v) for v in getattr(self, k)]
                   for k in ("hidden_init", "hidden_delta", "hidden_delta_later")},
                **{k: fmt(getattr(self, k)) for k in ("logits_init", "logits_delta", "logits_delta_later")}}


def _deltas(layers: Sequence[LayerExponents], update: Sequence[Fraction], al: Alignment) -> list[Fraction]:
    """First-order change of every layer's output: Delta h_l = max(Delta W_l z_{l-1}, W_0 Delta z_{l-1})."""
    k = [Fraction(0)] + [Fraction(1)] * (len(layers) - 1)
    out: list[Fraction] = []
    dz: Fraction | None = None  # the input does not change
    for lay, kl, u in zip(layers, k, update):
        sz = lay.grad + lay.a - lay.backward  # s(z_{l-1}), since grad = -a + s(g) + s(z)
        terms = [kl * al.alpha + u + sz]
        if dz is not None:
            terms.append(kl * al.omega - (lay.a + lay.b) + dz)
        dz = max(terms)
        out.append(dz)
    return out


def predict(parametrization: str, optimizer: str = "adam", alignment: str = "full") -> Prediction:
    """Exponents of hidden outputs and logits at init and after a step, from the derivation.

    ``parametrization``: sp, ntp, mfp, mup (or an alias; trained with their derived per-layer learning rates) or
    sp-global (SP's (a, b) with one learning rate: c = 0 in every layer). Forward pass at init: CLT
    (``exponents`` step 1); changes to first order in the learning rate (TP4 Sec. 3):
    Delta h_l = max(Delta W_l z_{l-1}, W_0 Delta z_{l-1}), with the sum exponents of the alignment and the
    update sizes ``derive_layers`` gives for the learning rates used (``derive_layers(..., lr=...)``).
    With the derived rates this reproduces the derivation's targets (Delta h = Theta(h), Delta f = Theta(1));
    with a global rate it gives the first-step blow-up exponents.
    """
    name = parametrization.strip().lower()
    global_lr = name.endswith("-global")
    if global_lr and name != "sp-global":
        raise InfwidthError(f"unknown parametrization {parametrization!r}; choose sp, ntp, mfp, mup or sp-global.")
    base = parametrization_name(name[: -len("-global")] if global_lr else name)
    opt = {"adam-atan2": "adam"}.get(optimizer, optimizer)  # atan2 shares Adam's exponents (scale-free updates)
    p = network(base, depth=3)
    al = _alignment(alignment)
    layers = derive_layers(p.a, p.b, opt, al, lr=[0] * len(p.a) if global_lr else None)
    s_out = [lay.grad + lay.a - lay.backward for lay in layers[1:]]
    s_out.append(s_out[-1] + HALF - (layers[-1].a + layers[-1].b))  # logits: CLT over the fan-in
    # The first step's gradients are taken at init, where g passes through W_0 only (CLT over the fan-out);
    # an SGD update is proportional to g (U = -c - 2a + s(g) + s(z)); Adam's and Adafactor's are not.
    g0 = [Fraction(0)] * len(layers)
    for l in range(len(layers) - 1, 0, -1):
        g0[l - 1] = g0[l] + (HALF if l + 1 < len(layers) else 0) - (layers[l].a + layers[l].b)
    first = _deltas(layers, [lay.update + (g - lay.backward if opt == "sgd" else 0)
                             for lay, g in zip(layers, g0)], al)
    later = _deltas(layers, [lay.update for lay in layers], al)
    c = [lay.c for lay in layers]
    return Prediction(base + ("-global" if global_lr else ""), optimizer, al.name, (c[0], c[1], c[-1]),
                      (min(s_out[:-1]), max(s_out[:-1])), s_out[-1], (min(first[:-1]), max(first[:-1])), first[-1],
                      (min(later[:-1]), max(later[:-1])), later[-1])
