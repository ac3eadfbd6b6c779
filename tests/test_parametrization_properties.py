"""Property tests over random rational abc-parametrizations (hypothesis, >= 1000 examples each).

The sampler concentrates on the interesting sets (stable, nontrivial, muP's class), which
have measure zero in parameter space: Eq. (6) is a set of equalities and nontriviality
holds on faces (Theorem 3.4).
"""

import random
from fractions import Fraction as F

from hypothesis import given, settings
from hypothesis import strategies as st

from infwidth.parametrization import AbcParametrization, classify, is_mup_class, min_stable_c, mup

DENOMS = (1, 2, 3, 4, 6)


def _q(rng: random.Random, lo: int = -3, hi: int = 3) -> F:
    d = rng.choice(DENOMS)
    return F(rng.randint(lo * d, hi * d), d)


def sample_parametrization(rng: random.Random) -> AbcParametrization:
    """A random parametrization, biased towards stable, nontrivial and muP-like ones."""
    L = rng.randint(1, 4)
    kind = rng.random()
    if kind < 0.15:  # muP up to the Eq. (5) symmetry, possibly with one coordinate nudged
        p = mup(L).shift(_q(rng))
        if rng.random() < 0.5:
            a, b = list(p.a), list(p.b)
            (a if rng.random() < 0.5 else b)[rng.randrange(L + 1)] += rng.choice([F(-1, 2), F(1, 4), F(1)])
            p = AbcParametrization(a, b, p.c)
        return p
    a = [_q(rng) for _ in range(L + 1)]
    targets = [F(0)] + [F(1, 2)] * (L - 1) + [rng.choice([F(1, 2), F(1), F(3, 4), F(1, 2) + abs(_q(rng))])]
    b = [t - x if rng.random() < 0.9 else _q(rng) for t, x in zip(targets, a)]
    p = AbcParametrization(a, b, _q(rng))
    if rng.random() < 0.6:  # move to the smallest stable c: a face of the stable polyhedron
        c = min_stable_c(p)
        if c is not None:
            p = p.with_c(c + (0 if rng.random() < 0.7 else abs(_q(rng))))
    return p


params = st.randoms(use_true_random=False).map(sample_parametrization)
shifts = st.fractions(min_value=-5, max_value=5, max_denominator=12)
EXAMPLES = settings(max_examples=1000, deadline=None)


@EXAMPLES
@given(params, shifts)
def test_classification_invariant_under_eq5_symmetry(p, theta):
    k1, k2 = classify(p), classify(p.shift(theta))
    j1, j2 = k1.to_json(), k2.to_json()
    for key in ("a", "b", "c", "min_stable_c"):
        j1.pop(key), j2.pop(key)
    assert j1 == j2
    # min stable c moves with c: c <- c - 2 theta.
    if k1.min_stable_c is not None:
        assert k2.min_stable_c == k1.min_stable_c - 2 * theta
    assert p.shift(theta).canonical() == p.canonical() and p.shift(theta).equivalent(p)


@EXAMPLES
@given(params)
def test_dynamical_dichotomy_corollary_3_9(p):
    k = classify(p)
    if k.stable and k.nontrivial:
        assert k.feature_learning != k.kernel_regime  # exactly one
        assert k.feature_learning == (k.r == 0)
    else:
        assert k.feature_learning is None and k.kernel_regime is None


@EXAMPLES
@given(params)
def test_theorem_5_6_mup_is_the_unique_maximal_parametrization(p):
    k = classify(p)
    maximal = k.stable and all(k.updated_maximally) and k.initialized_maximally
    assert maximal == is_mup_class(p)


@EXAMPLES
@given(params, st.fractions(min_value=F(1, 1000), max_value=3, max_denominator=1000))
def test_min_stable_c_is_stable_and_anything_smaller_is_not(p, eps):
    c = min_stable_c(p)
    if c is None:  # Eq. (6) fails: no learning rate can help
        for trial in (F(-10), F(0), F(10), F(1000)):
            assert not classify(p.with_c(trial)).stable
        return
    assert classify(p.with_c(c)).stable
    assert classify(p.with_c(c + eps)).stable  # stable c form a ray
    assert not classify(p.with_c(c - eps)).stable


def test_min_stable_c_matches_brute_force_scan():
    """Independent check of the closed form: scan c on an exact grid that contains it."""
    rng = random.Random(0)
    checked = 0
    for _ in range(300):
        p = sample_parametrization(rng)
        c = min_stable_c(p)
        if c is None:
            continue
        grid = [F(k, 24) for k in range(-24 * 12, 24 * 12 + 1)]
        stable = [g for g in grid if classify(p.with_c(g)).stable]
        if -12 < c < 12 and c.denominator in (1, 2, 3, 4, 6, 8, 12, 24):
            assert stable and stable[0] == c
            checked += 1
    assert checked > 100


def test_sampler_covers_every_regime():
    """The property tests above are only meaningful if the sampler hits every class often."""
    rng = random.Random(1)
    counts: dict[str, int] = {}
    mup_like = 0
    for _ in range(2000):
        p = sample_parametrization(rng)
        k = classify(p)
        counts[k.regime] = counts.get(k.regime, 0) + 1
        mup_like += is_mup_class(p)
    assert all(counts.get(r, 0) >= 100 for r in ("unstable", "trivial", "kernel", "feature learning")), counts
    assert mup_like >= 50
