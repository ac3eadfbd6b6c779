"""Predicted width exponents of every coordinate-check quantity, from the abc algebra alone.

"X ~ n^e" means the root-mean-square of X's coordinates is Theta(n^e) (TP4's coordinate size).
Notation: s_l = a_l + b_l, L = depth, (t) the step, phi the nonlinearity; the routine is full-batch
SGD on a fixed batch of inputs with d_in, d_out and the batch size fixed, square loss.

Initialization (any a, b; Section 3, forward pass):
    h^1_0 ~ n^{-s_1};  h^l_0 ~ n^{1/2 - s_l} |x^{l-1}_0|;  x^l_0 = phi(h^l_0);  f_0 ~ n^{1/2 - s_{L+1}} |x^L_0|
with |phi(h)| ~ n^e for h ~ n^e when phi is relu/identity/gelu, n^{min(e, 0)} for tanh/erf,
n^{2e} for x^2, and unknown (no prediction) for other callables unless e = 0.

Updates, when the hidden layers satisfy Eq. (6) (s_1 = 0, s_l = 1/2 for 2 <= l <= L):
  * the readout weight seen by the backward pass at step t has size n^{-omega_t} with
    omega_1 = s_{L+1} (W^{L+1}_0) and omega_t = min(s_{L+1}, 2 a_{L+1} + c) for t >= 2 (Prop. 5.3);
    the loss derivative chi_0 ~ n^{e_chi}, e_chi = max(0, exponent of f_0);
  * r^{(t)}_l = omega_t - e_chi + c - 1 + 2 a_l + I(l = 1)  (Prop. 5.3; equals r_l for t >= 2 when stable);
  * Delta W^l_t x^{l-1}_t ~ n^{-r^{(t)}_l} (l <= L);   Delta W^{L+1}_t x^L_t ~ n^{1 - 2 a_{L+1} - c + e_chi};
  * Delta h^l_t ~ Delta x^l_t ~ n^{-min_{k <= l} r^{(t)}_k}   (so Delta x^L_t ~ n^{-r}, Definition 3.2);
  * Delta f_t ~ n^{max(1 - 2 a_{L+1} - c + e_chi, 1 - s_{L+1} - r^{(t)})}, r^{(t)} = min_l r^{(t)}_l (Eq. (8)).
These hold at every step for stable parametrizations (Theorem 3.3). For unstable ones only the first
step (t = 1, gradients taken at initialization) is predicted: the blow-up exponents of the linearized
first step. Delta x^l for a blowing-up Delta h^l uses the phi map above.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from infwidth.errors import InfwidthError
from infwidth.parametrization import AbcParametrization, classify

HALF = Fraction(1, 2)


@dataclass(frozen=True)
class Quantity:
    """One measured quantity: ``kind`` in h0, x0, f0, dh, dx, dWx, df; ``layer`` 1-based (0 for f); step t."""

    kind: str
    layer: int
    step: int

    @property
    def label(self) -> str:
        """e.g. ``Delta h^2_t`` or ``f_0``."""
        names = {"h0": "h^{l}_0", "x0": "x^{l}_0", "f0": "f_0", "dh": "Delta h^{l}_t", "dx": "Delta x^{l}_t",
                 "dWx": "Delta W^{l} x^{m}_t", "df": "Delta f_t"}
        return names[self.kind].replace("{l}", str(self.layer)).replace("{m}", str(self.layer - 1))


def phi_exponent(phi_name: str, e: Fraction | None) -> Fraction | None:
    """Exponent of phi(h) for h ~ n^e (None when unknown)."""
    if e is None:
        return None
    if phi_name in ("relu", "identity", "gelu"):
        return e
    if phi_name in ("tanh", "erf"):  # bounded
        return min(e, Fraction(0))
    if phi_name == "square":
        return 2 * e
    return e if e == 0 else None


def delta_phi_exponent(phi_name: str, e_delta: Fraction | None) -> Fraction | None:
    """Exponent of phi(h + Delta) - phi(h) for h ~ 1 and Delta ~ n^e."""
    if e_delta is None:
        return None
    if e_delta <= 0:
        return e_delta
    if phi_name in ("relu", "identity", "gelu"):
        return e_delta
    if phi_name in ("tanh", "erf"):
        return Fraction(0)
    if phi_name == "square":
        return 2 * e_delta
    return None


def hidden_eq6(p: AbcParametrization) -> bool:
    """True when the hidden layers satisfy Eq. (6): a_1 + b_1 = 0 and a_l + b_l = 1/2 for 2 <= l <= L."""
    s = [x + y for x, y in zip(p.a, p.b)]
    return s[0] == 0 and all(v == HALF for v in s[1 : p.depth])


def predicted_exponents(p: AbcParametrization, steps: int, phi_name: str = "relu") -> dict[Quantity, Fraction | None]:
    """The predicted exponent of every quantity for steps t = 1..``steps`` (None: no prediction).

    See the module docstring for the formulas. Init quantities are predicted for any (a, b);
    updates at every step when ``p`` is stable, only at t = 1 otherwise (and only under hidden Eq. (6)).
    """
    from infwidth.arch import activation

    try:
        phi_name = activation(phi_name).name  # aliases (linear, quadratic, ...) -> canonical names
    except InfwidthError:
        pass  # an unregistered callable's name: only Theta(1) preactivations are predicted
    L = p.depth
    s = [x + y for x, y in zip(p.a, p.b)]
    out: dict[Quantity, Fraction | None] = {}
    e_x: Fraction | None = Fraction(0)
    for l in range(1, L + 1):
        e_h = -s[0] if l == 1 else (None if e_x is None else HALF - s[l - 1] + e_x)
        e_x = phi_exponent(phi_name, e_h)
        out[Quantity("h0", l, 0)] = e_h
        out[Quantity("x0", l, 0)] = e_x
    e_f0 = None if e_x is None else HALF - s[L] + e_x
    out[Quantity("f0", 0, 0)] = e_f0
    stable = classify(p).stable
    predict_updates = hidden_eq6(p) and e_f0 is not None and phi_exponent(phi_name, Fraction(0)) == 0
    e_chi = max(Fraction(0), e_f0) if e_f0 is not None else Fraction(0)
    a_out = p.a[L]
    for t in range(1, steps + 1):
        ok = predict_updates and (stable or t == 1)
        omega = s[L] if t == 1 else min(s[L], 2 * a_out + p.c)
        r_t = [omega - e_chi + p.c - 1 + 2 * p.a[l] + (1 if l == 0 else 0) for l in range(L)]
        running: Fraction | None = None  # -min_{k <= l} r_k, propagated through phi for blow-ups
        for l in range(1, L + 1):
            dwx = -r_t[l - 1]
            running = dwx if running is None else max(dwx, running)
            out[Quantity("dWx", l, t)] = dwx if ok else None
            out[Quantity("dh", l, t)] = running if ok else None
            dx = delta_phi_exponent(phi_name, running)
            out[Quantity("dx", l, t)] = dx if ok else None
            running = dx
        readout = 1 - 2 * a_out - p.c + e_chi
        out[Quantity("dWx", L + 1, t)] = readout if ok else None
        df = None if running is None else max(readout, 1 - s[L] + running)
        out[Quantity("df", 0, t)] = df if ok else None
    return out
