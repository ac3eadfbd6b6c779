"""Per-layer learning-rate and Adam-epsilon exponents, derived (not tabulated).

Setting (Everett et al., "Scaling Exponents Across Parameterizations and Optimizers", and
TP4 Section 3 / Eq. (1)): a network of width n with an embedding layer (fan-in O(1)),
hidden layers (fan-in n, fan-out n) and a readout layer (fan-in n, fan-out O(1)). Layer l
has W_l = n^{-a_l} w_l, w_l ~ N(0, n^{-2 b_l}), and is trained with learning rate
eta * n^{-c_l}. We track the *exponent* s of the typical entry size (x = Theta(n^s)) of

* the activations z_l at initialization,
* the backward signals g_l = dL/dh_l (h_l the output of layer l),
* the weight updates Delta W_l (one optimizer step),

and derive c_l as the **smallest** exponent (largest learning rate) such that the
change Delta h_l = Delta W_l z_{l-1} + W_l Delta z_{l-1} + Delta W_l Delta z_{l-1} is of the
same size as h_l itself (maximal update for embedding/hidden layers; Delta f = Theta(1)
for the readout: stability and non-triviality of the logits).

A sum over a fan-in of n terms has size n^{alpha} times the terms: alpha = 1 when the
terms are correlated (Law of Large Numbers, "full alignment"), alpha = 1/2 when they are
independent (Central Limit, "no alignment"). Each of the three terms gets its own
alignment exponent (alpha for Delta W z, omega for W_0 Delta z, u for Delta W Delta z);
at initialization W_0 and z are independent so the init sums always use 1/2.

The optimizer enters only through the entry size of Delta W_l (exponent U_l):
  SGD:        Delta W = -eta n^{-c} n^{-a} dL/dw,  dL/dw = n^{-a} g z^T  -> U = -c - 2a + s(g_l) + s(z_{l-1})
  Adam:       Delta W = n^{-a} * (update of entries Theta(eta n^{-c}))    -> U = -c - a
  Adafactor:  update relative to the parameter's RMS n^{-b}                -> U = -c - a - b
which is exactly why the Eq. (5) symmetry (a, b, c) -> (a + theta, b - theta, c - k theta)
has k = 2 for SGD, k = 1 for Adam and k = 0 for Adafactor (``SYMMETRY_K``; tested).

Everything is exact ``Fraction`` arithmetic; no torch import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from infwidth.errors import InfwidthError
from infwidth.parametrization import AbcParametrization
from infwidth.parametrization.presets import REGISTRY, ROLES, lookup
from infwidth.parametrization.rational import RationalLike, fmt, to_fraction

HALF = Fraction(1, 2)
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "adafactor")
#: c -> c - k theta under (a, b) -> (a + theta, b - theta): Eq. (5) for SGD, its Adam/Adafactor analogues.
SYMMETRY_K: dict[str, int] = {"sgd": 2, "adam": 1, "adafactor": 0}


@dataclass(frozen=True)
class Alignment:
    """Alignment exponents of the three terms of Delta h = Delta W z + W_0 Delta z + Delta W Delta z.

    alpha: sum exponent of Delta W z_0 (1 = LLN / full alignment, 1/2 = CLT / none);
    omega: of W_0 Delta z; u: of Delta W Delta z.
    """

    alpha: Fraction
    omega: Fraction
    u: Fraction
    name: str = ""


ALIGNMENTS: dict[str, Alignment] = {
    # Full alignment: updates are correlated with the activations they multiply (LLN), while
    # W_0 stays a random matrix independent of Delta z (CLT): Everett et al.'s "full alignment".
    "full": Alignment(Fraction(1), HALF, Fraction(1), "full"),
    "none": Alignment(HALF, HALF, HALF, "none"),
}

# (a, b) per role (embedding, hidden, readout): the package's one preset registry (Everett et al. Table 1's
# SP, NTK, muP and MF are sp, ntp, mup, mfp there). c is derived here, per optimizer and alignment.
_PARAMS: dict[str, tuple[tuple[Fraction, Fraction], ...]] = {
    p.name: tuple(p.ab[r] for r in ROLES) for p in REGISTRY.values()
}
#: the parametrizations ``infwidth exponents`` tabulates (LR variants such as sp_stable share sp's (a, b)).
PARAMETRIZATIONS: tuple[str, ...] = tuple(p.name for p in REGISTRY.values() if p.lr_variant_of is None)


def parametrization_name(name: str) -> str:
    """Normalize a parametrization name (sp, ntp, mup, mfp and aliases such as ntk, mf, mean-field)."""
    return lookup(name).name


def role_ab(name: str) -> dict[str, tuple[Fraction, Fraction]]:
    """The (a, b) exponents of each role for a named parametrization."""
    return dict(zip(ROLES, _PARAMS[parametrization_name(name)]))


def network(name: str, depth: int = 3) -> AbcParametrization:
    """The named parametrization as a TP4 abc-parametrization of an L-hidden-layer MLP (c = 0).

    Layer 1 is the embedding, layers 2..L hidden, layer L+1 the readout; ``depth`` = L >= 2.
    """
    if depth < 2:
        raise InfwidthError(f"depth must be >= 2 so that the network has a hidden layer, got {depth}.")
    ab = role_ab(name)
    roles = ["embedding"] + ["hidden"] * (depth - 1) + ["readout"]
    return AbcParametrization([ab[r][0] for r in roles], [ab[r][1] for r in roles], 0,
                              parametrization_name(name))


def _optimizer(name: str) -> str:
    key = name.strip().lower()
    if key not in OPTIMIZERS:
        raise InfwidthError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}.")
    return key


def alignment(name: str | Alignment) -> Alignment:
    """Look up an alignment assumption by name ('full' or 'none'), or pass one through."""
    if isinstance(name, Alignment):
        return name
    key = name.strip().lower()
    if key not in ALIGNMENTS:
        raise InfwidthError(f"unknown alignment {name!r}; choose 'full' or 'none'.")
    return ALIGNMENTS[key]


@dataclass(frozen=True)
class LayerExponents:
    """Derived exponents of one layer (all as powers of the width n).

    a, b: the parametrization; c: learning rate eta * n^{-c}; eps: Adam epsilon eps0 * n^{-eps}
    (matched to the gradient entries of w, n^{grad}, so eps = -grad); update: entry size
    exponent of Delta W; backward: entry size exponent of g = dL/dh at this layer's output;
    binding: which term of Delta h fixed c.
    """

    role: str
    a: Fraction
    b: Fraction
    c: Fraction
    eps: Fraction
    grad: Fraction
    update: Fraction
    backward: Fraction
    binding: str

    def to_json(self) -> dict[str, str]:
        """Exponents as strings ('1/2')."""
        return {"role": self.role, "a": fmt(self.a), "b": fmt(self.b), "c": fmt(self.c),
                "eps": fmt(self.eps), "grad": fmt(self.grad), "update": fmt(self.update),
                "backward": fmt(self.backward), "binding": self.binding}


@dataclass(frozen=True)
class ExponentTable:
    """The derivation's result for one (parametrization, optimizer, alignment)."""

    parametrization: str
    optimizer: str
    alignment: str
    layers: tuple[LayerExponents, ...]

    def by_role(self) -> dict[str, LayerExponents]:
        """One entry per role (hidden layers are identical; checked in ``derive``)."""
        return {lay.role: lay for lay in self.layers}

    def lr(self) -> tuple[Fraction, Fraction, Fraction]:
        """(embedding, hidden, readout) learning-rate exponents c."""
        r = self.by_role()
        return (r["embedding"].c, r["hidden"].c, r["readout"].c)

    def eps(self) -> tuple[Fraction, Fraction, Fraction]:
        """(embedding, hidden, readout) Adam-epsilon exponents."""
        r = self.by_role()
        return (r["embedding"].eps, r["hidden"].eps, r["readout"].eps)

    def to_json(self) -> dict[str, Any]:
        return {"parametrization": self.parametrization, "optimizer": self.optimizer,
                "alignment": self.alignment,
                "roles": {k: v.to_json() for k, v in self.by_role().items()}}


def derive_layers(a: Sequence[RationalLike], b: Sequence[RationalLike], optimizer: str,
                  align: str | Alignment = "full", lr: Sequence[RationalLike] | None = None) -> list[LayerExponents]:
    """Derive per-layer exponents for per-layer (a_l, b_l), l = 1..L+1 (layer 1 = embedding).

    Inputs: a, b of equal length L+1 >= 3; optimizer in sgd/adam/adafactor; alignment; ``lr``: when
    given, the learning-rate exponents c_l actually used (e.g. all 0 for one global learning rate)
    instead of the derived ones: the update and backward exponents are then those of that choice
    (binding "given"). Output: one ``LayerExponents`` per layer. Raises InfwidthError if the initialization is
    unstable (activations or logits blow up with n) or W_0 Delta z alone blows up.
    """
    fa = [to_fraction(x, "a") for x in a]
    fb = [to_fraction(x, "b") for x in b]
    opt = _optimizer(optimizer)
    al = alignment(align)
    nl = len(fa)
    if nl != len(fb) or nl < 3 or (lr is not None and len(lr) != nl):
        raise InfwidthError("give a and b (and c) with the same number L+1 >= 3 of entries (embedding, hidden.., "
                            "readout).")
    k = [Fraction(0)] + [Fraction(1)] * (nl - 1)  # fan-in exponent: the embedding's fan-in is O(1)
    roles = ["embedding"] + ["hidden"] * (nl - 2) + ["readout"]

    # Forward pass at init: s(z_l) = s(z_{l-1}) + k_l / 2 - (a_l + b_l)  (CLT: W_0 independent of z).
    sz = [Fraction(0)]
    for l in range(nl):
        sz.append(sz[-1] + k[l] * HALF - (fa[l] + fb[l]))
    for l in range(nl):
        if sz[l + 1] > 0:
            what = "logits" if l == nl - 1 else f"activations of layer {l + 1}"
            raise InfwidthError(f"this parametrization is unstable at initialization ({what} grow like "
                                f"n^{fmt(sz[l + 1])}); increase a_l + b_l.")
    # Target size of Delta h_l: Theta(h_l) for embedding/hidden (maximal update), Theta(1) for logits.
    target = sz[1:nl] + [Fraction(0)]
    # Delta z_{l-1} is at its target (maximal update of the layers below).
    dz = [Fraction(0)] + target[:-1]
    for l in range(nl):  # W_0 Delta z_{l-1} must not exceed the target on its own
        if k[l] * al.omega - (fa[l] + fb[l]) + dz[l] > target[l]:
            raise InfwidthError(f"W_0 Delta z blows up in layer {l + 1} under alignment {al.name!r} "
                                "whatever the learning rate; this parametrization is unstable there.")

    c: list[Fraction] = [Fraction(0)] * nl
    upd: list[Fraction] = [Fraction(0)] * nl
    sg: list[Fraction] = [Fraction(0)] * nl  # s(g_l), g_l = dL/dh_l; dL/df = Theta(1)
    binding: list[str] = [""] * nl
    for l in reversed(range(nl)):  # top-down: SGD's update size needs the backward scale
        if opt == "sgd":
            rest = -2 * fa[l] + sg[l] + sz[l]
        elif opt == "adam":
            rest = -fa[l]
        else:
            rest = -(fa[l] + fb[l])
        # Delta W z term: k alpha + (rest - c) + s(z_{l-1}); Delta W Delta z: k u + (rest - c) + s(dz).
        terms = {"Delta W z": k[l] * al.alpha + sz[l], "Delta W Delta z": k[l] * al.u + dz[l]}
        binding[l] = max(terms, key=lambda t: terms[t]) if lr is None else "given"
        c[l] = terms[binding[l]] + rest - target[l] if lr is None else to_fraction(lr[l], "c")
        upd[l] = rest - c[l]
        if l > 0:  # backward to h_{l-1}: through W_0 (CLT over the fan-out) and through Delta W
            fan_out = Fraction(0) if l == nl - 1 else Fraction(1)
            sg[l - 1] = sg[l] + max(fan_out * HALF - (fa[l] + fb[l]), fan_out * al.alpha + upd[l])
    layers = []
    for l in range(nl):
        grad = -fa[l] + sg[l] + sz[l]  # dL/dw_l = n^{-a_l} g_l z_{l-1}^T
        layers.append(LayerExponents(roles[l], fa[l], fb[l], c[l], -grad, grad, upd[l], sg[l], binding[l]))
    return layers


def derive(param: str, optimizer: str, align: str | Alignment = "full", depth: int = 3) -> ExponentTable:
    """Derive the (embedding, hidden, readout) exponent table of a named parametrization.

    Inputs: param a preset name (sp, ntp, mup, mfp or an alias), optimizer in sgd/adam/adafactor, alignment
    'full'/'none', depth L (hidden layers count; the result does not depend on it, which is checked).
    Output: an ``ExponentTable``.
    """
    p = network(param, depth)
    layers = derive_layers(p.a, p.b, optimizer, align)
    hidden = {(x.c, x.eps) for x in layers if x.role == "hidden"}
    if len(hidden) != 1:  # pragma: no cover - identical hidden layers must get identical exponents
        raise AssertionError("hidden layers got different exponents")
    return ExponentTable(parametrization_name(param), _optimizer(optimizer), alignment(align).name,
                         tuple(layers))


def shift(a: RationalLike, b: RationalLike, c: RationalLike, theta: RationalLike,
          optimizer: str) -> tuple[Fraction, Fraction, Fraction]:
    """One layer's symmetry (a, b, c) -> (a + theta, b - theta, c - k theta), k = 2/1/0 for
    SGD/Adam/Adafactor (TP4 Eq. (5) and its analogues): the trained function is unchanged."""
    t = to_fraction(theta, "theta")
    kk = SYMMETRY_K[_optimizer(optimizer)]
    return (to_fraction(a) + t, to_fraction(b) - t, to_fraction(c) - kk * t)


def table_rows(optimizer: str, align: str, params: Sequence[str] = PARAMETRIZATIONS) -> list[ExponentTable]:
    """Derived tables for several parametrizations (what ``infwidth exponents`` prints)."""
    return [derive(p, optimizer, align) for p in params]
