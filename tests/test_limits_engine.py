"""The streaming particle engine (plan + zrules + particles) against the pre-rewrite engine and exact limits."""

from __future__ import annotations

import numpy as np
import pytest

from _reference_engine import run_limit as reference_run_limit
from _reference_engine import run_reference_particles
from infwidth.errors import InfwidthError
from infwidth.limits import Program, mlp_sgd_program, run_linear, run_particles, run_polynomial
from infwidth.limits.particles import particle_memory
from infwidth.limits.plan import make_plan
from infwidth.limits.polynomial import PolyBackend
from infwidth.limits.zrules import run_limit

RNG = np.random.default_rng(11)


def _program(depth: int, phi: str, T: int = 5, batch: int = 1, d_in: int = 1, d_out: int = 1, loss: str = "mse",
             decoupled: bool = False, n_eval: int = 0, seed: int = 0, lr: float = 0.5):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((T, batch, d_in))
    Y = rng.choice([-1.0, 1.0], (T, batch, d_out)) if loss == "logistic" else rng.standard_normal((T, batch, d_out))
    E = rng.standard_normal((n_eval, d_in)) if n_eval else None
    return mlp_sgd_program(depth, phi, X, Y, lr=lr, loss=loss, d_in=d_in, d_out=d_out, decoupled=decoupled,
                           eval_xs=E)


def _arrays(b, r) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    return b.collect(r.values)


CASES = [
    dict(depth=2, phi="tanh"),
    dict(depth=2, phi="relu", batch=2, d_in=3, d_out=2),
    dict(depth=3, phi="tanh", batch=2, d_in=2),
    dict(depth=2, phi="tanh", decoupled=True),
    dict(depth=1, phi="gelu", batch=2, d_in=2),
    dict(depth=2, phi="tanh", loss="logistic", batch=3, d_in=4),
    dict(depth=2, phi="relu", n_eval=2, d_in=2),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_equals_the_pre_rewrite_engine(case: dict) -> None:  # type: ignore[type-arg]
    """Same draws, same law: with branches off the new engine reproduces the old one number for number."""
    b = _program(**case)
    old = run_reference_particles(b.program, particles=8000, replicas=4, seed=3)
    new = run_particles(b.program, particles=8000, replicas=4, seed=3, branches=False)
    fo, fn = _arrays(b, old), _arrays(b, new)
    for k in fo:
        scale = max(1.0, float(np.abs(fo[k]).max()))
        np.testing.assert_allclose(fn[k], fo[k], rtol=0, atol=1e-11 * scale)
    assert max(old.stderr.values()) > 1e-4  # a Monte Carlo run, not a constant
    assert old.zdot.keys() == new.zdot.keys()


@pytest.mark.parametrize("branches", [False, True])
def test_exact_backends_equal_the_pre_rewrite_interpreter(branches: bool) -> None:
    """Exact backends draw nothing at random, so evaluation branches change nothing but rounding.

    x^2's families are nearly degenerate (Gram condition numbers ~1e7, members with residuals just above
    RESIDUAL_TOL), so the two factorizations' rounding differs there at ~1e-9; identity agrees to 1e-11.
    """
    for phi, T, tol in (("identity", 6, 1e-11), ("square", 3, 1e-8)):
        b = _program(2, phi, T=T, n_eval=1, lr=0.2)
        old = reference_run_limit(b.program, PolyBackend("polynomial"))
        new = run_limit(b.program, PolyBackend("polynomial"), branches=branches)
        for k, v in _arrays(b, old).items():
            np.testing.assert_allclose(_arrays(b, new)[k], v, rtol=0, atol=tol * max(1.0, np.abs(v).max()))
        assert np.abs(_arrays(b, new)["f"]).max() > 1e-4  # the program trains


def _z(a: np.ndarray, b: np.ndarray, se: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(se, 1e-12)))


def _se(b, r) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.array([[[r.stderr[k] for k in bb] for bb in t] for t in b.f_names])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_particles_converge_to_the_exact_linear_and_polynomial_limits(dtype: type) -> None:
    """Within a few standard errors of the exact backends, in float64 and in float32."""
    for phi, T, lr, runner in (("identity", 8, 0.2, run_linear), ("square", 3, 0.01, run_polynomial)):
        b = _program(2, phi, T=T, batch=2, d_in=2, seed=4, lr=lr)
        exact = _arrays(b, runner(b.program))["f"]
        mc = run_particles(b.program, particles=200_000, replicas=8, seed=5, dtype=dtype)
        se = _se(b, mc)
        assert _z(_arrays(b, mc)["f"], exact, se) < 4.5
        assert se.max() < 0.1 * max(1.0, np.abs(exact).max())  # a test with teeth (x^2 has heavy tails)


def test_float32_matches_float64_within_standard_errors() -> None:
    b = _program(3, "tanh", T=6, batch=2, d_in=3, seed=6)
    r64 = run_particles(b.program, particles=100_000, replicas=8, seed=1)
    r32 = run_particles(b.program, particles=100_000, replicas=8, seed=2, dtype=np.float32)
    se = np.hypot(_se(b, r64), _se(b, r32))
    assert _z(_arrays(b, r32)["f"], _arrays(b, r64)["f"], se) < 4.5
    assert r32.cost["bytes"] * 2 == r64.cost["bytes"]


def test_evaluation_branches_keep_families_and_memory_fixed_and_the_same_law() -> None:
    few, many = _program(2, "tanh", T=4, n_eval=1), _program(2, "tanh", T=4, n_eval=12)
    pf, pm = make_plan(few.program), make_plan(many.program)
    assert pm.cost.family_members == pf.cost.family_members == {"W2": 4, "W2^T": 4}
    assert pm.cost.branch_matmuls == 5 * 12
    assert make_plan(many.program, lockstep=False).n_slots <= pf.n_slots + 1  # + one scratch slot
    assert pm.n_slots <= pf.n_slots + 2 * 12  # lock-step: the 12 evaluation passes are alive together
    off = make_plan(many.program, branches=False)
    assert off.cost.family_members["W2"] == 4 + 5 * 12
    on_r = run_particles(many.program, particles=100_000, replicas=8, seed=1)
    off_r = run_particles(many.program, particles=100_000, replicas=8, seed=2, branches=False)
    ev = lambda r: np.array([[r.values[e[0]] for e in t] for t in many.eval_names])  # noqa: E731
    evs = lambda r: np.array([[r.stderr[e[0]] for e in t] for t in many.eval_names])  # noqa: E731
    assert _z(ev(on_r), ev(off_r), np.hypot(evs(on_r), evs(off_r))) < 4.5


def test_memory_is_checked_before_allocating() -> None:
    b = _program(2, "tanh", T=3)
    with pytest.raises(InfwidthError, match=r"needs about .* GiB .* limit is"):
        run_particles(b.program, particles=10**12, replicas=4)  # ~TB: refused, never allocated
    need = particle_memory(b.program, particles=40_000, replicas=4)
    with pytest.raises(InfwidthError, match="limit is"):
        run_particles(b.program, particles=40_000, replicas=4, max_memory=need // 2)
    r = run_particles(b.program, particles=40_000, replicas=4, max_memory=need)
    assert r.cost["bytes"] <= need


@pytest.mark.parametrize("depth", [2, 3])
def test_storage_follows_the_cost_model(depth: int) -> None:
    """Peak vectors alive = (4L - 2) per training pass (+ O(d); the last step's are not kept); created <= 8L."""
    T, B, d = 12, 2, 3
    b = _program(depth, "tanh", T=T, batch=B, d_in=d)
    c = make_plan(b.program).cost
    passes = T * B
    assert (4 * depth - 2) * (passes - B) <= c.peak_slots <= (4 * depth - 2) * passes + d + 12
    # the last step's backward MatMuls are branches: no later MatMul needs them
    assert c.family_members == {f"W{l}{t}": passes - (B if t else 0) for l in range(2, depth + 1) for t in ("", "^T")}
    assert c.n_vectors <= 8 * depth * passes + d + 1


def test_gram_rows_serve_the_inner_products() -> None:
    """The hidden layers' history inner products are read from ZHat's Gram rows (no extra pass)."""
    b = _program(2, "tanh", T=6, batch=2)
    plan = make_plan(b.program)
    # forward <x1_s, x1> and backward <dh2_s, dh2> terms: each pass reads every earlier step's passes
    earlier = sum(2 * t for t in range(6) for _ in range(2))
    assert len(plan.cached) == 2 * earlier


def test_degenerate_family_is_exact_in_the_new_interpreter() -> None:
    p = Program("degenerate")
    W = p.matrix("W", sigma2=2.0)
    (u,) = p.init_vectors(["u"])
    a = p.matmul(W, u)
    two_u = p.nonlin(lambda u: 2.0 * u, [u])
    c = p.matmul(W, two_u)  # = 2 W u: no new direction
    p.output("E[a c]", p.inner(a, c))
    p.output("E[c c]", p.inner(c, c))
    r = run_linear(p)
    assert r.outputs["E[a c]"] == pytest.approx(4.0, abs=1e-12)
    assert r.outputs["E[c c]"] == pytest.approx(8.0, abs=1e-12)
    assert make_plan(p).cost.family_members == {"W": 1}  # the second MatMul is a branch (nothing follows)


def _eval_program(depth: int, n_eval: int = 10):  # type: ignore[no-untyped-def]
    from infwidth.arch import MLPSpec, Routine
    from infwidth.limits.builders import tensor_program
    from infwidth.parametrization import mup

    rng = np.random.default_rng(8)
    r = Routine(rng.standard_normal((12, 3)), rng.standard_normal((12, 1)), lr=0.5, batch_size=2, steps=6,
                eval_inputs=rng.standard_normal((n_eval, 3)), eval_every=3)
    return tensor_program(MLPSpec(depth, d_in=3, phi="tanh"), mup(depth), r)


def test_lockstep_evaluation_equals_one_pass_at_a_time() -> None:
    """Depth 2 (one MatMul per evaluation pass): same draws, so the same numbers; depth 3: within errors."""
    b = _eval_program(2)
    plan = make_plan(b.program)
    assert max(len(s) for s in plan.steps) == 10  # the 10 evaluation passes of each evaluation step together
    a = run_particles(b.program, particles=20_000, replicas=4, seed=3)
    s = run_particles(b.program, particles=20_000, replicas=4, seed=3, lockstep=False)
    for k, v in _arrays(b, s).items():
        np.testing.assert_allclose(_arrays(b, a)[k], v, rtol=0, atol=1e-11 * max(1.0, np.abs(v).max()))
    b3 = _eval_program(3)
    a3 = run_particles(b3.program, particles=100_000, replicas=8, seed=3, dtype=np.float32)
    s3 = run_particles(b3.program, particles=100_000, replicas=8, seed=4, lockstep=False)
    fa, fs = _arrays(b3, a3)["f_eval"], _arrays(b3, s3)["f_eval"]
    se = np.hypot(b3.collect(a3.stderr)["f_eval"], b3.collect(s3.stderr)["f_eval"])
    assert _z(fa, fs, se) < 4.5
    assert make_plan(b3.program).n_slots <= make_plan(b3.program, lockstep=False).n_slots + 10 * 6
