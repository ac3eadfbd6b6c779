"""An independent reference for the limits tests: a muP MLP trained by torch autograd.

Written from TP4 Section 6 directly (W^1 = sqrt(n) w^1, W^l = w^l, W^{L+1} = w^{L+1}/sqrt(n),
w ~ N(0, sigma^2/n), SGD on w with learning rate eta), not from the builders.
"""

from __future__ import annotations

import numpy as np
import torch


def torch_mup_sgd(depth: int, phi: str, xs: np.ndarray, ys: np.ndarray, n: int, lr: float, seed: int,
                  decoupled: bool = False, loss: str = "mse") -> tuple[list[float], dict[str, np.ndarray]]:
    """Train a width-n muP MLP (d_in = d_out = 1) by SGD; return f_t(xi_t) and the initial tensors.

    The returned dict holds the program's initial vectors/matrices (U0, nV0, W2.., Wtilde2..)
    so a program's finite-width run can be fed the same draw.
    """
    g = torch.Generator().manual_seed(seed)
    act = {"identity": lambda x: x, "square": lambda x: x * x, "tanh": torch.tanh,
           "relu": torch.relu}[phi]
    dt = torch.float64
    w1 = (torch.randn(n, 1, generator=g, dtype=dt) / np.sqrt(n)).requires_grad_()
    mids = [(torch.randn(n, n, generator=g, dtype=dt) / np.sqrt(n)).requires_grad_() for _ in range(depth - 1)]
    tildes = [torch.randn(n, n, generator=g, dtype=dt) / np.sqrt(n) for _ in range(depth - 1)]
    wout = (torch.randn(1, n, generator=g, dtype=dt) / np.sqrt(n)).requires_grad_()
    init = {"U0": (np.sqrt(n) * w1).detach().numpy()[:, 0].copy(),
            "nV0": (n * wout / np.sqrt(n)).detach().numpy()[0].copy()}
    for i, (m, mt) in enumerate(zip(mids, tildes)):
        init[f"W{i + 2}"] = m.detach().numpy().copy()
        init[f"Wtilde{i + 2}"] = mt.numpy().copy()
    W0 = [m.detach().clone() for m in mids]

    class DecoupledMatmul(torch.autograd.Function):
        @staticmethod
        def forward(ctx, W, x, W0_, Wt):  # type: ignore[no-untyped-def]
            ctx.save_for_backward(W, x, W0_, Wt)
            return W @ x

        @staticmethod
        def backward(ctx, gout):  # type: ignore[no-untyped-def]
            W, x, W0_, Wt = ctx.saved_tensors
            # Eq. (20): dx = (Wtilde + Delta W^T) dh, Wtilde an iid copy of W^T
            return gout @ x.T, Wt @ gout + (W - W0_).T @ gout, None, None

    fs = []
    for xi, y in zip(xs, ys):
        x = torch.tensor([[float(xi)]], dtype=dt)
        h = np.sqrt(n) * w1 @ x
        z = act(h)
        for i, m in enumerate(mids):
            z = act(DecoupledMatmul.apply(m, z, W0[i], tildes[i]) if decoupled else m @ z)
        f = (wout / np.sqrt(n)) @ z
        fs.append(float(f.detach()))
        L = 0.5 * (f - float(y)) ** 2 if loss == "mse" else torch.nn.functional.softplus(-float(y) * f)
        params = [w1, *mids, wout]
        grads = torch.autograd.grad(L.sum(), params)
        with torch.no_grad():
            for p, gr in zip(params, grads):
                p -= lr * gr
    return fs, init


def test_reference_first_logit_and_step() -> None:
    """Sanity of the reference itself: f_0 = (1/n) nV0 . phi(U0 xi_0), and the step moves f by O(1)."""
    fs, init = torch_mup_sgd(1, "tanh", np.array([1.0, 1.0]), np.array([1.0, 1.0]), n=4096, lr=1.0, seed=0)
    assert abs(fs[0] - float(np.mean(init["nV0"] * np.tanh(init["U0"])))) < 1e-12
    assert 0.2 < fs[1] - fs[0] < 2.0
