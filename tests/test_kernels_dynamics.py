"""Kernel-regime dynamics against independent computations: linear models, matrix exponentials, conditioning."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from infwidth.arch import Routine
from infwidth.errors import InfwidthError
from infwidth.kernels import FunctionSpaceModel, gp_posterior, kernel_gd, kernel_ridge, mse_gradient_flow, ntk
from infwidth.nn import loss_value

RNG = np.random.default_rng(5)
T64 = torch.float64


@pytest.mark.parametrize("loss,batch,order", [("mse", 1, "sequential"), ("logistic", 2, "shuffle"),
                                              ("xent", 3, "shuffle")])
def test_kernel_gd_equals_sgd_on_a_linear_model(loss: str, batch: int, order: str) -> None:
    """A linear model f(x) = W x trained by SGD is exactly kernel GD with K(x, x') = x . x' (Eq. (9) holds at
    every width for it), for every loss, batch size and data order; checked on the training and eval inputs."""
    N, d, k = 6, 4, 3 if loss == "xent" else 1
    X, E = RNG.standard_normal((N, d)), RNG.standard_normal((2, d))
    if loss == "xent":
        y: np.ndarray = np.array([0, 2, 1, 1, 0, 2])
    elif loss == "logistic":
        y = np.array([1.0, -1, -1, 1, 1, -1])
    else:
        y = RNG.standard_normal(N)
    W0 = RNG.standard_normal((k, d))
    routine = Routine(X, y, loss=loss, lr=0.3, batch_size=batch, steps=5, order=order, seed=4, eval_inputs=E)
    pts = np.vstack([X, E])
    run = kernel_gd(pts @ X.T, routine, (pts @ W0.T)[None])
    W = torch.tensor(W0).requires_grad_(True)
    Xt = torch.tensor(X)
    for t, idx in enumerate(routine.batches()):
        fb = Xt[torch.as_tensor(idx)] @ W.T
        assert np.allclose(fb.detach().numpy(), run.f[0, t], atol=1e-12)
        yb = torch.tensor(y[idx])
        value = loss_value(fb, yb if loss == "xent" else yb.reshape(-1, 1), loss)
        assert abs(float(value) - float(run.loss[0, t])) < 1e-12
        (g,) = torch.autograd.grad(value, W)
        with torch.no_grad():
            W -= 0.3 * g
        assert run.f_eval is not None
        assert np.allclose(E @ W.detach().numpy().T, run.f_eval[0, t + 1], atol=1e-12)


def test_function_space_model_is_eq9() -> None:
    """The support-point representation reproduces kernel_gd (MAML inner loop form) and copies independently."""
    X = torch.tensor(RNG.standard_normal((5, 3)))
    y = torch.tensor(RNG.standard_normal(5))

    def kern(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return ntk(a, b, depth=2, phi="relu")

    model = FunctionSpaceModel(kern, d_in=3)
    for t in range(5):
        model.sgd_step(X[t:t + 1], y[t:t + 1], 0.5)
    routine = Routine(X.numpy(), y.numpy(), lr=0.5, eval_inputs=X.numpy())
    ref = kernel_gd(kern(torch.cat([X, X]), X).numpy(), routine)
    assert ref.f_eval is not None
    assert np.allclose(model(X).numpy(), ref.f_eval[0, -1], atol=1e-12)
    clone = model.copy()
    clone.sgd_step(X[:1], y[:1], 0.5)
    assert model.support.shape[0] == 5 and clone.support.shape[0] == 6


def test_mse_gradient_flow_matches_matrix_exponential() -> None:
    """f_t = y + expm(-lr t K / N)(f_0 - y) on the train set; eval by integrating df*/dt = -(lr/N) K*X (f - y)."""
    X = torch.tensor(RNG.standard_normal((5, 3)))
    E = torch.tensor(RNG.standard_normal((2, 3)))
    K, Ke = ntk(X, X, 2, "erf"), ntk(E, X, 2, "erf")
    y, f0, f0e = (torch.tensor(RNG.standard_normal((n, 1))) for n in (5, 5, 2))
    ft, fe = mse_gradient_flow(K, y, time=3.0, lr=2.0, k_eval=Ke, f0=f0, f0_eval=f0e)
    A = scipy.linalg.expm(-2.0 * 3.0 * K.numpy() / 5)
    assert np.allclose(ft.numpy(), y.numpy() + A @ (f0 - y).numpy(), atol=1e-10)
    # eval: integral_0^t e^{-a s K} ds = K^{-1}(I - e^{-a t K}) / a  (a = lr / N)
    a = 2.0 / 5
    integral = np.linalg.solve(K.numpy(), np.eye(5) - A) / a
    want = f0e.numpy() - a * Ke.numpy() @ integral @ (f0 - y).numpy()
    assert fe is not None and np.allclose(fe.numpy(), want, atol=1e-9)
    f_inf, fe_inf = mse_gradient_flow(K, y, time=float("inf"), k_eval=Ke)
    assert np.allclose(f_inf.numpy(), y.numpy(), atol=1e-8)
    assert fe_inf is not None
    assert np.allclose(fe_inf.numpy(), kernel_ridge(K, y, Ke, 0.0).numpy(), atol=1e-8)


def test_gp_posterior_is_gaussian_conditioning() -> None:
    """Posterior mean/covariance equal the Schur-complement formulas of the joint Gaussian; mean = ridge."""
    Z = torch.tensor(RNG.standard_normal((6, 3)))
    J = ntk(Z, Z, 1, "relu").numpy() + 0.0
    Ktr, Kte, Kee = J[:4, :4], J[4:, :4], J[4:, 4:]
    y = torch.tensor(RNG.standard_normal(4))
    mean, cov = gp_posterior(torch.tensor(Ktr), y, torch.tensor(Kte), torch.tensor(Kee), noise=0.1)
    inv = np.linalg.inv(Ktr + 0.1 * np.eye(4))
    assert np.allclose(mean.numpy()[:, 0], Kte @ inv @ y.numpy(), atol=1e-12)
    assert np.allclose(cov.numpy(), Kee - Kte @ inv @ Kte.T, atol=1e-12)
    assert np.allclose(mean.numpy(), kernel_ridge(torch.tensor(Ktr), y, torch.tensor(Kte), 0.1).numpy())
    with pytest.raises(InfwidthError):
        gp_posterior(torch.ones(2, 2, dtype=T64), torch.ones(2, dtype=T64), torch.ones(1, 2, dtype=T64),
                     torch.ones(1, 1, dtype=T64))
