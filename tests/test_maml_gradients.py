"""MAML gradients against autograd: first order, second order, the batched linear path, function space."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad

from infwidth.data.omniglot import TaskBatch
from infwidth.kernels.dynamics import FunctionSpaceModel
from infwidth.maml import fast_linear, kernel
from infwidth.maml.core import MAMLConfig, evaluate, meta_step, task_meta_gradient
from infwidth.maml.models import LinearReadout, MupLinear1LP, MupMLP1


@pytest.fixture(autouse=True)
def _float64_default():
    """float64 for these gradient comparisons, restored afterwards (the default dtype is process-global)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _task(seed: int, d: int = 6, n: int = 3, k: int = 2) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    xs, xq = torch.randn(n * k, d, generator=g), torch.randn(n * k, d, generator=g)
    y = torch.arange(n).repeat_interleave(k)
    return xs, y, xq, y.clone()


def _batch(seed: int, B: int = 3, d: int = 6, n: int = 3, k: int = 2) -> TaskBatch:
    ts = [_task(seed + b, d, n, k) for b in range(B)]
    return TaskBatch(*(torch.stack([t[i] for t in ts]) for i in range(4)), classes=None)  # type: ignore[arg-type]


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.A = torch.nn.Parameter(torch.randn(5, 6, generator=g) / 2)
        self.c = torch.nn.Parameter(torch.randn(5, generator=g) / 4)
        self.B = torch.nn.Parameter(torch.randn(3, 5, generator=g) / 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x @ self.A.T + self.c) @ self.B.T

    def lr_multipliers(self) -> dict[str, float]:
        return {"A": 2.0, "c": 1.0, "B": 0.5}


@pytest.mark.parametrize("steps", [1, 3])
def test_first_order_is_query_gradient_at_adapted_params(steps: int) -> None:
    model, (xs, ys, xq, yq) = Tiny(), _task(1)
    eps, mult = 0.3, model.lr_multipliers()
    # reference: adapt by hand with plain autograd on a copy, then the query-loss gradient there
    ref = copy.deepcopy(model)
    for _ in range(steps):
        ref.zero_grad()
        F.cross_entropy(ref(xs), ys).backward()
        with torch.no_grad():
            for name, p in ref.named_parameters():
                p -= eps * mult[name] * p.grad  # type: ignore[operator]
    ref.zero_grad()
    F.cross_entropy(ref(xq), yq).backward()
    g, _, _ = task_meta_gradient(model, xs, ys, xq, yq, MAMLConfig(inner_lr=eps, inner_steps=steps))
    for name, p in ref.named_parameters():
        assert torch.allclose(g[name], p.grad, atol=1e-12, rtol=1e-10)  # type: ignore[arg-type]


@pytest.mark.parametrize("steps", [1, 2])
def test_second_order_matches_autograd_through_inner_steps(steps: int) -> None:
    model, (xs, ys, xq, yq) = Tiny(), _task(2)
    eps, mult = 0.3, model.lr_multipliers()
    theta = {k: v.detach() for k, v in model.named_parameters()}

    def inner_loss(p: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.cross_entropy(functional_call(model, p, (xs,)), ys)

    def outer(p: dict[str, torch.Tensor]) -> torch.Tensor:
        for _ in range(steps):
            gi = grad(inner_loss)(p)
            p = {k: v - eps * mult[k] * gi[k] for k, v in p.items()}
        return F.cross_entropy(functional_call(model, p, (xq,)), yq)

    ref = grad(outer)(theta)
    g2, _, _ = task_meta_gradient(model, xs, ys, xq, yq, MAMLConfig(eps, steps, first_order=False))
    g1, _, _ = task_meta_gradient(model, xs, ys, xq, yq, MAMLConfig(eps, steps, first_order=True))
    for k in theta:
        assert torch.allclose(g2[k], ref[k], atol=1e-12, rtol=1e-9)
    assert max(float((g1[k] - g2[k]).abs().max()) for k in theta) > 1e-4  # the Hessian term is not negligible


@pytest.mark.parametrize("width", [None, 16])
def test_batched_linear_path_equals_generic(width: int | None) -> None:
    d = 6
    m1 = MupLinear1LP(d, 3, width=width, sigma_u=0.7, sigma_v=0.5, bias_alpha=1.5, seed=3)
    m2 = copy.deepcopy(m1)
    cfg = MAMLConfig(inner_lr=0.4, inner_steps=2, grad_clip=0.05)
    for it in range(3):
        b = _batch(10 * it)
        r1, r2 = meta_step(m1, b, cfg, 0.2), fast_linear.meta_step_linear(m2, b, cfg, 0.2)
        assert r1["grad_norm"] > 0.05  # clipping is active
        assert abs(r1["loss"] - r2["loss"]) < 1e-12 and abs(r1["grad_norm"] - r2["grad_norm"]) < 1e-10
    assert torch.allclose(m1.U, m2.U, atol=1e-12) and torch.allclose(m1.V, m2.V, atol=1e-12)
    b = _batch(99, B=6)
    assert torch.equal(evaluate(m1, b, 0.4, 5), fast_linear.evaluate_linear(m2, b, 0.4, 5))


def test_reduced_wide_network_equals_full_width_network() -> None:
    """A width-40 MupLinear1LP is stored in d + 1 + d_o = 10 hidden coordinates (QR of the projection);
    its MAML trajectory equals the full 40-coordinate network's (Gaussian projection G, no reduction)."""
    d, o, n = 6, 3, 40
    reduced = MupLinear1LP(d, o, width=n, sigma_u=0.7, sigma_v=0.5, bias_alpha=1.5, seed=3)
    assert reduced.U.shape == (d + 1 + o, d + 1) and reduced.scale == n
    full = MupLinear1LP(d, o, width=n, sigma_u=0.7, sigma_v=0.5, bias_alpha=1.5, seed=3, reduce=False)
    assert full.U.shape == (n, d + 1)
    cfg = MAMLConfig(inner_lr=0.4, inner_steps=2, grad_clip=0.05)
    for it in range(4):
        b = _batch(10 * it)
        r1, r2 = fast_linear.meta_step_linear(reduced, b, cfg, 0.2), fast_linear.meta_step_linear(full, b, cfg, 0.2)
        assert r1["grad_norm"] > 0.05  # clipping is active
        assert abs(r1["loss"] - r2["loss"]) < 1e-12 and abs(r1["grad_norm"] - r2["grad_norm"]) < 1e-10
    b = _batch(99, B=6)
    l1, l2 = (fast_linear.adapted_query_logits(m, b, 0.4, 5) for m in (reduced, full))
    assert float((l1 - l2).abs().max()) < 1e-10 and float(l1.abs().max()) > 1e-3


def test_finite_linear_mlp_has_law_of_projected_limit() -> None:
    """MupMLP1 (identity) and MupLinear1LP(width=n) at init: same logit variance sigma_u^2 sigma_v^2 |x|^2 / n."""
    x = torch.randn(1, 6, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a = torch.stack([MupMLP1(6, 1, 50, "identity", 0.7, 0.5, seed=s)(x) for s in range(400)]).var()
        b = torch.stack([MupLinear1LP(6, 1, width=50, sigma_u=0.7, sigma_v=0.5, seed=s)(x) for s in range(400)]).var()
    expect = 0.7**2 * 0.5**2 * float((x * x).sum()) / 50
    assert abs(float(a) / expect - 1) < 0.2 and abs(float(b) / expect - 1) < 0.2


def test_function_space_maml_equals_parameter_space_for_linear_kernel() -> None:
    gamma, beta, d = 0.8, 0.6, 6
    readout = LinearReadout(d, 3, gamma=gamma, beta=beta)

    def lin_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return gamma * (x @ y.T + beta**2)

    fs = FunctionSpaceModel(lin_kernel, d, 3)
    cfg = MAMLConfig(inner_lr=0.4, inner_steps=2, grad_clip=0.3)
    for it in range(3):
        b = _batch(5 * it)
        r1, r2 = meta_step(readout, b, cfg, 0.5), kernel.meta_step_fs(fs, b, cfg, 0.5)
        assert abs(r1["grad_norm"] - r2["grad_norm"]) < 1e-10 and abs(r1["loss"] - r2["loss"]) < 1e-12
    x = torch.randn(7, d)
    assert torch.allclose(readout(x), fs(x), atol=1e-12)
    fast = LinearReadout(d, 3, gamma=gamma, beta=beta)      # the batched readout path, same tasks
    for it in range(3):
        fast_linear.meta_step_readout(fast, _batch(5 * it), cfg, 0.5)
    assert torch.allclose(fast.W, readout.W, atol=1e-12)
    b = _batch(77, B=5)
    assert torch.equal(evaluate(readout, b, 0.4, 20), kernel.evaluate_fs(fs, b, 0.4, 20))
    assert torch.equal(evaluate(readout, b, 0.4, 20), fast_linear.evaluate_readout(fast, b, 0.4, 20))


def test_linear_kernel_constants_match_kernel_library() -> None:
    """gp-/ntk-linear readouts use K = gamma (x.x' + beta^2); check against infwidth.kernels (identity phi)."""
    from infwidth.maml.learners import Hyper, Learner

    x = torch.rand(4, 784)
    for kind in ("gp", "ntk"):
        hp = Hyper(0.1, 0.3, 1.7, 0.5)
        ro = Learner(f"{kind}-linear", hp, MAMLConfig()).module
        assert isinstance(ro, LinearReadout)
        ours = ro.gamma * (x @ x.T + ro.beta**2)
        ref = kernel.mlp_kernel(kind, "identity", 784, hp.sigma_u, hp.bias, hp.sigma_v)(x, x)
        assert torch.allclose(ours, ref, rtol=1e-10)


@pytest.mark.parametrize("first_order", [True, False])
def test_vmapped_tasks_equal_task_loop(first_order: bool) -> None:
    from infwidth.maml.core import evaluate_vmap, meta_step_vmap

    m1 = MupMLP1(6, 3, 7, "relu", 0.8, 0.6, bias_alpha=1.0, seed=2)
    m2 = copy.deepcopy(m1)
    cfg = MAMLConfig(inner_lr=0.4, inner_steps=2, first_order=first_order, grad_clip=0.2)
    for it in range(2):
        b = _batch(3 * it, B=4)
        r1, r2 = meta_step(m1, b, cfg, 0.3), meta_step_vmap(m2, b, cfg, 0.3)
        assert abs(r1["grad_norm"] - r2["grad_norm"]) < 1e-10 and abs(r1["loss"] - r2["loss"]) < 1e-12
    for (k, p1), p2 in zip(m1.named_parameters(), m2.parameters()):
        assert torch.allclose(p1, p2, atol=1e-12), k
    b = _batch(50, B=5)
    assert torch.equal(evaluate(m1, b, 0.4, 4), evaluate_vmap(m2, b, 0.4, 4))
