"""The one preset registry: sp, sp_stable, ntp, mfp, mup mean one thing everywhere in the package.

Each :class:`Preset` gives the width exponents of the three roles a layer can play (TP4 Section 3,
Everett et al. Table 1) -- the embedding (layer 1, fan-in O(1)), hidden layers (2..L) and the readout
(L+1): ``(a, b)`` with ``W = n^{-a} w``, ``w ~ N(0, n^{-2b})``, and the SGD learning-rate exponent ``c`` of
the role (LR = eta n^{-c}). ``preset(name, depth)`` assembles the TP4 abc-parametrization (per-role c folded
into one global c by the Eq. (5) symmetry, :meth:`AbcParametrization.from_per_layer_lr`);
``infwidth.scaling`` reads the same roles' ``(a, b)`` and derives its own optimizer-dependent c.

* sp: PyTorch's default initialization with one global LR (c = 0); sp_stable: the same with c = 1 (Table 1).
* ntp: the neural tangent parametrization.
* mup: the maximal update parametrization (Definition 5.1).
* mfp: the mean-field parametrization in Everett et al.'s form, embedding (-1/2, 1/2), hidden (1/2, 0),
  readout (1, 0), with the SGD learning rates c = (0, -1, -1) that Everett et al.'s derivation gives (full
  alignment). At depth 1 this folds to TP4's MFP exactly, a = (0, 1), b = (0, 0), c = -1; at any depth it
  equals muP up to the Eq. (5) symmetry (tested).

Exact ``Fraction`` arithmetic; no torch import.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from fractions import Fraction

from infwidth.errors import InfwidthError
from infwidth.parametrization.abc import AbcParametrization

ROLES: tuple[str, ...] = ("embedding", "hidden", "readout")
H = Fraction(1, 2)


@dataclass(frozen=True)
class Preset:
    """A named parametrization by role: ``ab[role] = (a, b)``, ``c[role]`` the SGD LR exponent (module docstring).

    ``lr_variant_of``: the preset whose (a, b) this one shares (it differs only in the learning rate);
    ``aliases``: other accepted names.
    """

    name: str
    ab: dict[str, tuple[Fraction, Fraction]]
    c: dict[str, Fraction]
    description: str
    aliases: tuple[str, ...] = ()
    lr_variant_of: str | None = None

    def roles(self, depth: int) -> list[str]:
        """The role of each layer l = 1..L+1."""
        return ["embedding"] + ["hidden"] * (depth - 1) + ["readout"]

    def at_depth(self, depth: int) -> AbcParametrization:
        """The TP4 abc-parametrization of an L-hidden-layer MLP (per-role c folded by Eq. (5))."""
        _check_depth(depth)
        depth = int(depth)
        roles = self.roles(depth)
        a = [self.ab[r][0] for r in roles]
        b = [self.ab[r][1] for r in roles]
        cs = [self.c[r] for r in roles]
        if len(set(cs)) == 1:
            return AbcParametrization(a, b, cs[0], self.name)
        return AbcParametrization.from_per_layer_lr(a, b, cs, name=self.name)


def _preset(name: str, emb: tuple[Fraction, Fraction], hid: tuple[Fraction, Fraction],
            out: tuple[Fraction, Fraction], c: tuple[Fraction, Fraction, Fraction], description: str,
            aliases: tuple[str, ...] = (), lr_variant_of: str | None = None) -> Preset:
    return Preset(name, dict(zip(ROLES, (emb, hid, out))), dict(zip(ROLES, c)), description, aliases,
                  lr_variant_of)


Z, ONE = Fraction(0), Fraction(1)
REGISTRY: dict[str, Preset] = {p.name: p for p in (
    _preset("sp", (Z, Z), (Z, H), (Z, H), (Z, Z, Z), "standard parametrization (PyTorch default), one global LR",
            ("standard",)),
    _preset("sp_stable", (Z, Z), (Z, H), (Z, H), (ONE, ONE, ONE), "SP with learning rate 1/n (TP4 Table 1's SP)",
            (), lr_variant_of="sp"),
    _preset("ntp", (Z, Z), (H, Z), (H, Z), (Z, Z, Z), "neural tangent parametrization", ("ntk",)),
    _preset("mfp", (-H, H), (H, Z), (ONE, Z), (Z, -ONE, -ONE),
            "mean-field parametrization (TP4's MFP at depth 1; muP up to Eq. (5))", ("mf", "mean-field", "meanfield")),
    _preset("mup", (-H, H), (Z, H), (H, H), (Z, Z, Z), "maximal update parametrization (Definition 5.1)",
            ("μp", "mu_p")),
)}
_BY_NAME: dict[str, Preset] = {alias: p for p in REGISTRY.values() for alias in (p.name, *p.aliases)}
PRESETS: tuple[str, ...] = tuple(REGISTRY)


def _check_depth(depth: int) -> None:
    """``depth`` must be an integer L >= 1 (Python or NumPy; not a bool, not a float)."""
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < 1:
        raise InfwidthError(f"depth must be an integer L >= 1 (hidden layers), got {depth!r}.")


def lookup(name: str) -> Preset:
    """The registry entry for a name or alias (case-insensitive); InfwidthError for an unknown name."""
    key = canonical(name) if isinstance(name, str) else name
    if key not in REGISTRY:
        raise InfwidthError(f"unknown parametrization {name!r}; choose one of: {', '.join(REGISTRY)}.")
    return REGISTRY[key]


def canonical(name: str) -> str:
    """The registry name of ``name`` (any alias, any case, ``-`` or ``_``), or ``name`` stripped and lower-cased
    when it is not a preset (so a caller's own error can list the names)."""
    text = name.strip().lower()
    for key in (text, text.replace("-", "_"), text.replace("_", "-")):
        if key in _BY_NAME:
            return _BY_NAME[key].name
    return text


def preset(name: str, depth: int) -> AbcParametrization:
    """Look up a preset by name or alias (sp, sp_stable, ntp, mfp, mup) at the given depth."""
    return lookup(name).at_depth(depth)


def sp(depth: int) -> AbcParametrization:
    """Standard parametrization, PyTorch default: a_l = 0, b_1 = 0, b_l = 1/2, c = 0."""
    return preset("sp", depth)


def sp_stable(depth: int) -> AbcParametrization:
    """SP with learning rate 1/n (c = 1): Table 1's SP column."""
    return preset("sp_stable", depth)


def ntp(depth: int) -> AbcParametrization:
    """Neural tangent parametrization: a_1 = 0, a_l = 1/2 (l >= 2), b_l = 0, c = 0."""
    return preset("ntp", depth)


def mfp(depth: int) -> AbcParametrization:
    """Mean-field parametrization: TP4's a = (0, 1), b = (0, 0), c = -1 at depth 1 (module docstring)."""
    return preset("mfp", depth)


def mup(depth: int) -> AbcParametrization:
    """Maximal update parametrization (Definition 5.1): a = (-1/2, 0, ..., 0, 1/2), b_l = 1/2, c = 0."""
    return preset("mup", depth)
