"""One spec -> AbcMLP and Tensor Program: the program's finite-width run *is* the network's autograd SGD.

Every activation, with and without biases, residual blocks, softmax cross-entropy (d_out = 3), minibatches
and d_in > 1: the program run at width n with the network's own initial tensors reproduces
``infwidth.nn.train(AbcMLP(spec, mup(L), n), routine)`` to ~1e-12 (both in float64).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infwidth.arch import ACTIVATIONS, MLPSpec, Routine, activation
from infwidth.errors import InfwidthError
from infwidth.limits import mlp_sgd_program, run_finite, tensor_program
from infwidth.nn import AbcMLP, train
from infwidth.parametrization import AbcParametrization, mup

RNG = np.random.default_rng(0)

CONFIGS = {
    # name: (spec kwargs, loss, batch, steps, order)
    "plain-mse": (dict(depth=2, d_in=1, d_out=1), "mse", 1, 4, "sequential"),
    "bias-logistic-batch2": (dict(depth=2, d_in=3, d_out=1, bias=True), "logistic", 2, 3, "shuffle"),
    "residual-bias-xent3-batch2": (dict(depth=3, d_in=4, d_out=3, bias=True, residual=True), "xent", 2, 3,
                                   "shuffle"),
    "residual-decoupled-mse-do2-batch3": (dict(depth=3, d_in=2, d_out=2, residual=True, decoupled_backprop=True),
                                          "mse", 3, 3, "sequential"),
    "depth1-d16-xent3-batch4": (dict(depth=1, d_in=16, d_out=3, bias=True), "xent", 4, 3, "shuffle"),
}
PHIS = [*ACTIVATIONS, "callable"]


def _data(spec: MLPSpec, loss: str, n_examples: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_examples, spec.d_in)) / np.sqrt(spec.d_in)
    if loss == "xent":
        return X, rng.integers(0, spec.d_out, n_examples)
    if loss == "logistic":
        return X, rng.choice([-1.0, 1.0], (n_examples, 1))
    return X, rng.standard_normal((n_examples, spec.d_out))


@pytest.mark.parametrize("phi", PHIS)
@pytest.mark.parametrize("config", list(CONFIGS))
def test_program_at_width_n_equals_abcmlp_autograd_sgd(config: str, phi: str) -> None:
    kw, loss, batch, steps, order = CONFIGS[config]
    act = activation(lambda x: x * torch.sigmoid(x) if isinstance(x, torch.Tensor) else x / (1 + np.exp(-x))) \
        if phi == "callable" else ACTIVATIONS[phi]
    spec = MLPSpec(phi=act, **kw)
    X, Y = _data(spec, loss)
    lr = 0.003 if phi == "square" else 0.5  # x^2 through residual blocks grows fast
    routine = Routine(X, Y, loss=loss, lr=lr, batch_size=batch, steps=steps, order=order, seed=1,
                      eval_inputs=X[:2] + 0.3, eval_every=2)
    n = 32
    net = AbcMLP(spec, mup(spec.depth), n, dtype=torch.float64, seed=7)
    b = tensor_program(spec, mup(spec.depth), routine)
    init, mats = b.init_from(net)
    got = b.collect(run_finite(b.program, n, init=init, matrices=mats))
    ref = train(net, routine)
    assert ref.f_eval is not None and b.eval_steps == ref.eval_steps == routine.eval_steps() == [0, 2, steps]
    np.testing.assert_allclose(got["f"], ref.f, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got["loss"], ref.loss, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got["f_eval"], ref.f_eval, rtol=1e-10, atol=1e-12)
    assert np.abs(ref.f_eval[-1] - ref.f_eval[0]).max() > 1e-4  # training moved the function


def test_eq5_equivalent_parametrization_gives_the_same_program_and_network() -> None:
    """A muP-class parametrization (Eq. (5) shift by 1/4) trains identically: program and network agree too."""
    p = mup(2).shift("1/4")
    spec = MLPSpec(2, d_in=2, d_out=1, phi="tanh")
    X, Y = _data(spec, "mse")
    routine = Routine(X, Y, lr=0.5, batch_size=2, steps=3)
    net = AbcMLP(spec, p, 48, dtype=torch.float64, seed=2)
    b = tensor_program(spec, p, routine)
    init, mats = b.init_from(net)
    got = b.collect(run_finite(b.program, 48, init=init, matrices=mats))
    np.testing.assert_allclose(got["f"], train(net, routine).f, rtol=1e-10, atol=1e-12)


def test_inputs_spanning_a_subspace_use_a_smaller_basis() -> None:
    """5 inputs in R^40 need only 5 first-layer vectors (W^1_0 q_k), and still reproduce the network exactly."""
    spec = MLPSpec(2, d_in=40, d_out=2, phi="relu", bias=True)
    X, Y = _data(spec, "mse", n_examples=5)
    routine = Routine(X, Y, lr=0.5, batch_size=1, steps=5)
    b = tensor_program(spec, mup(2), routine)
    assert b.basis is not None and len(b.basis.vectors) == 5
    np.testing.assert_allclose(b.basis.q @ b.basis.q.T, np.eye(5), atol=1e-12)
    net = AbcMLP(spec, mup(2), 40, dtype=torch.float64, seed=1)
    init, mats = b.init_from(net)
    got = b.collect(run_finite(b.program, 40, init=init, matrices=mats))
    np.testing.assert_allclose(got["f"], train(net, routine).f, rtol=1e-10, atol=1e-12)


def test_depth_mismatch_is_an_error_not_an_index_error() -> None:
    """The seam bugs: mlp_sgd_program(1, ..., param=mup(2)) was accepted silently, depth 3 raised IndexError."""
    xs, ys = [1.0, -1.0], [1.0, 1.0]
    with pytest.raises(InfwidthError, match="same depth"):
        mlp_sgd_program(1, "tanh", xs, ys, param=mup(2))
    with pytest.raises(InfwidthError, match="same depth"):
        mlp_sgd_program(3, "tanh", xs, ys, param=mup(2))
    with pytest.raises(InfwidthError, match="same depth"):
        AbcMLP(MLPSpec(3), mup(2), 16)


def test_spec_and_routine_validate_their_inputs() -> None:
    with pytest.raises(InfwidthError, match="residual"):
        MLPSpec(1, residual=True)
    with pytest.raises(InfwidthError, match="L\\+1 = 3"):
        MLPSpec(2, alphas=(1.0, 2.0))
    with pytest.raises(InfwidthError, match="d_in"):
        MLPSpec(2, d_in=0)
    X = np.zeros((4, 2))
    with pytest.raises(InfwidthError, match="class index"):
        Routine(X, [0, 1, 2, 1.5], loss="xent")
    with pytest.raises(InfwidthError, match="batch size"):
        Routine(X, np.zeros(4), batch_size=5)
    with pytest.raises(InfwidthError, match="learning rate"):
        Routine(X, np.zeros(4), lr=float("nan"))
    with pytest.raises(InfwidthError, match="d_out >= 2"):
        tensor_program(MLPSpec(1, d_in=2), mup(1), Routine(X, [0, 1, 0, 1], loss="xent"))
    with pytest.raises(InfwidthError, match="features"):
        tensor_program(MLPSpec(1, d_in=3), mup(1), Routine(X, np.zeros(4)))
    with pytest.raises(InfwidthError, match="readout bias"):
        tensor_program(MLPSpec(1, bias=True), mup(1).shift("1/2"), Routine(np.ones(2), np.ones(2)))


def test_routine_orders() -> None:
    """Sequential batches cycle through the data; shuffled ones visit every example once per epoch."""
    r = Routine(np.arange(5.0), np.zeros(5), batch_size=2, steps=5)
    assert r.batches().tolist() == [[0, 1], [2, 3], [4, 0], [1, 2], [3, 4]]
    s = Routine(np.arange(6.0), np.zeros(6), batch_size=3, steps=4, order="shuffle", seed=3)
    flat = s.batches().reshape(2, 6)
    assert all(sorted(epoch) == list(range(6)) for epoch in flat.tolist())
    assert Routine(np.arange(6.0), np.zeros(6), eval_inputs=[1.0], eval_every=4).eval_steps() == [0, 4, 6]


def test_frozen_layers_and_regimes_still_classified() -> None:
    """A muP variant with a frozen middle layer builds; its finite program differs from the network (by design)."""
    p = AbcParametrization.from_per_layer_lr(mup(2).a, mup(2).b, ["0", "1/2", "0"])
    b = tensor_program(MLPSpec(2, phi="tanh", bias=True), p, Routine([1.0, -1.0], [1.0, -1.0]))
    assert "W2" in str(b.program)
