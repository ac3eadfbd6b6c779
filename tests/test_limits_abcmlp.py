"""The computed limits against ``infwidth.nn.AbcMLP`` (an independent finite-width implementation)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infwidth.limits import mlp_sgd_program, run_linear, run_particles
from infwidth.parametrization import AbcParametrization, mup

nn_mlp = pytest.importorskip("infwidth.nn")


def _abcmlp_fs(param: AbcParametrization, phi: str, X: np.ndarray, Y: np.ndarray, lr: float, n: int, seed: int,
               decoupled: bool = False, loss: str = "mse", consts: dict | None = None) -> np.ndarray:  # type: ignore[type-arg]
    """f_t on the training batch before step t, for every t: array (T, batch, d_out)."""
    net = nn_mlp.AbcMLP(param, n, d_in=X.shape[2], d_out=Y.shape[2], phi=phi, decoupled_backprop=decoupled,
                        dtype=torch.float64, seed=seed, **(consts or {}))
    out = []
    for x, y in zip(X, Y):
        xt, yt = torch.tensor(x), torch.tensor(y)
        with torch.no_grad():
            out.append(net(xt).numpy().copy())
        net.sgd_step(xt, yt, lr, loss=loss)
    return np.array(out)


CASES = [
    # (name, param, phi, decoupled, d_in, d_out, batch, loss, lr)
    ("depth2-tanh", mup(2), "tanh", False, 1, 1, 1, "mse", 1.0),
    ("depth2-decoupled-relu", mup(2), "relu", True, 1, 1, 1, "mse", 0.5),
    ("depth2-identity-d3-do2-batch2", mup(2), "identity", False, 3, 2, 2, "mse", 0.5),
    ("depth1-tanh-logistic", mup(1), "tanh", False, 1, 1, 1, "logistic", 1.0),
    ("depth2-frozen-middle", AbcParametrization.from_per_layer_lr(mup(2).a, mup(2).b, ["0", "1/2", "0"]),
     "tanh", False, 1, 1, 1, "mse", 1.0),
    ("depth2-tanh-alphas-sigmas", mup(2), "tanh", False, 2, 1, 1, "mse", 0.5,
     {"alphas": [1.5, 0.8, 1.2], "sigmas": [0.6, 1.3, 0.9]}),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_abcmlp_seed_mean_matches_limit(case: tuple) -> None:  # type: ignore[type-arg]
    _, param, phi, dec, d, do, B, loss, lr = case[:9]
    consts = case[9] if len(case) > 9 else {}
    rng = np.random.default_rng(1)
    T = 3
    X = rng.choice([-1.0, 1.0], (T, B, d)) * rng.uniform(0.5, 1.0, (T, B, d))
    Y = rng.choice([-1.0, 1.0], (T, B, do))
    b = mlp_sgd_program(param.depth, phi, X, Y, lr=lr, loss=loss, d_in=d, d_out=do, decoupled=dec, param=param,
                       **consts)
    lim = run_linear(b.program) if phi == "identity" else run_particles(b.program, particles=160_000, seed=4)
    f_lim = b.collect(lim.values)["f"]
    se_lim = np.array([[[lim.stderr[k] for k in bb] for bb in t] for t in b.f_names])
    S, n = 12, 1024
    F = np.array([_abcmlp_fs(param, phi, X, Y, lr, n, seed=s, decoupled=dec, loss=loss, consts=consts)
                  for s in range(S)])
    se = np.sqrt(F.std(axis=0, ddof=1) ** 2 / S + se_lim ** 2)
    z = (F.mean(axis=0) - f_lim)[1:] / se[1:]
    assert np.all(np.abs(z) < 4.0), (z, F.mean(axis=0), f_lim)
    assert np.abs(f_lim[1:]).max() > 0.05
