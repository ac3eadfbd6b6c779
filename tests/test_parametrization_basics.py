"""Exact abc algebra: parsing, presets, and worked examples from the TP4 text."""

from fractions import Fraction as F

import pytest

from infwidth.errors import InfwidthError
from infwidth.parametrization import (
    AbcParametrization,
    classify,
    is_mup_class,
    mfp,
    mup,
    ntp,
    preset,
    sp,
    sp_stable,
    to_fraction,
)


@pytest.mark.parametrize(
    "value, expected",
    [("1/2", F(1, 2)), ("-0.5", F(-1, 2)), (" 3 ", F(3)), (2, F(2)), (0.25, F(1, 4)), ("0.1", F(1, 10)),
     (F(2, 3), F(2, 3)), ("-7/4", F(-7, 4))],
)
def test_to_fraction_accepts_exact_values(value, expected):
    assert to_fraction(value) == expected


@pytest.mark.parametrize("value", [0.1, 1 / 3, float("nan"), float("inf"), "abc", "1/0", "", True, None])
def test_to_fraction_rejects_inexact_or_non_numbers(value):
    with pytest.raises(InfwidthError):
        to_fraction(value)


def test_float_rejection_message_suggests_exact_string():
    with pytest.raises(InfwidthError, match="'1/10'"):
        to_fraction(0.1, "c")


def test_length_mismatch_and_depth_zero_are_rejected():
    with pytest.raises(InfwidthError, match="a has 3 entries but b has 2"):
        AbcParametrization([0, 0, 0], [0, 0], 0)
    with pytest.raises(InfwidthError, match="at least 2"):
        AbcParametrization([0], [0], 0)
    for make in (sp, sp_stable, ntp, mup, mfp):
        with pytest.raises(InfwidthError, match="depth"):
            make(0)


def test_one_registry_mfp_is_tp4s_at_depth_one_and_mup_equivalent_deeper():
    """One preset registry: TP4's MFP at depth 1 (a = (0, 1), b = 0, c = -1); at any depth, Everett et al.'s
    mean-field roles with SGD learning rates, which equal muP up to the Eq. (5) symmetry layer by layer."""
    from infwidth.scaling.exponents import derive, role_ab

    assert mfp(1) == AbcParametrization([0, 1], [0, 0], -1)
    for L in (2, 3, 5):
        assert mfp(L).invariants() == mup(L).invariants() and classify(mfp(L)).regime == "feature learning"
    assert role_ab("mfp") == {"embedding": (F(-1, 2), F(1, 2)), "hidden": (F(1, 2), 0), "readout": (1, 0)}
    assert [str(c) for c in derive("mf", "sgd", "full").lr()] == ["0", "-1", "-1"]  # the registry's SGD c
    for alias, name in [("ntk", "ntp"), ("MF", "mfp"), ("mean-field", "mfp"), ("sp-stable", "sp_stable"),
                        ("μP", "mup")]:
        assert preset(alias, 2).name == name
    for name in ("sp", "ntp", "mup", "mfp"):  # scaling's role table is the registry's (a, b), unfolded by Eq. (5)
        p, cs = preset(name, 3), _role_c(name)
        unfolded = [(a - (c - p.c) / 2, b + (c - p.c) / 2) for a, b, c in zip(p.a, p.b, cs)]
        ab = role_ab(name)
        assert unfolded == [ab["embedding"], ab["hidden"], ab["hidden"], ab["readout"]]
    with pytest.raises(InfwidthError, match="unknown parametrization"):
        preset("xyz", 2)


def _role_c(name: str) -> list[F]:
    from infwidth.parametrization.presets import REGISTRY

    p = REGISTRY[name]
    return [p.c["embedding"], p.c["hidden"], p.c["hidden"], p.c["readout"]]


def test_preset_values_match_paper_definitions():
    # TP4 Section 1 examples and Definition 5.1.
    assert ntp(3) == AbcParametrization([0, "1/2", "1/2", "1/2"], [0, 0, 0, 0], 0)
    assert mfp(1) == AbcParametrization([0, 1], [0, 0], -1)
    assert sp(2) == AbcParametrization([0, 0, 0], [0, "1/2", "1/2"], 0)
    assert mup(3) == AbcParametrization(["-1/2", 0, 0, "1/2"], ["1/2"] * 4, 0)


def test_pytorch_default_sp_is_unstable_and_fails_7_and_8():
    k = classify(sp(3))
    assert not k.stable
    labels = " ".join(k.failed_conditions)
    assert "(7)" in labels and "(8) 2 a_4 + c >= 1" in labels and "(6)" not in labels
    assert k.nontrivial is None and k.feature_learning is None and k.kernel_regime is None
    assert k.min_stable_c == 1  # Theorem 4.1: SP needs LR O(1/n)


def test_sp_depth_one_has_r_three_halves():
    # At L = 1 the min over layers in Def. 3.2 is only over l = 1 (value 2 a_1 + 1 = 1).
    assert classify(sp_stable(1)).r == F(3, 2)


def test_mfp_equals_mup_up_to_symmetry_at_depth_one():
    # "muP for a 1-hidden-layer perceptron is equivalent to the mean field parametrization by Eq. (5)"
    assert mfp(1).equivalent(mup(1))
    assert mfp(1).shift(F(-1, 2)) == mup(1)
    assert not ntp(1).equivalent(mup(1))


def test_section4_only_middle_layer_trained_is_kernel_regime():
    # Section 4: a_1 = theta, b_1 = -theta, a_2 = 0, b_2 = 1/2, a_3 = theta, b_3 = 1/2 - theta, c = 1.
    theta = F(5)
    p = AbcParametrization([theta, 0, theta], [-theta, F(1, 2), F(1, 2) - theta], 1)
    k = classify(p)
    assert k.stable and k.nontrivial and k.kernel_regime and k.r == F(1, 2)


def test_section51_sp_with_readout_over_sqrt_n_learns_features():
    # Section 5.1: a_{L+1} = 1/2, c = 0 on top of SP gives r = 0 and feature learning.
    p = AbcParametrization([0, 0, F(1, 2)], [0, F(1, 2), F(1, 2)], 0)
    k = classify(p)
    assert k.stable and k.nontrivial and k.feature_learning and k.r == 0
    # ... but the first layer is not updated maximally (Section 5.2): r_1 = 1.
    assert k.r_l == (F(1), F(0)) and k.updated_maximally == (False, True, True)


def test_footnote23_readout_update_negligible_but_init_maximal():
    L = 2
    base = mup(L)
    p = AbcParametrization(base.a[:-1] + (F(201, 2),), base.b[:-1] + (F(-199, 2),), 0)
    k = classify(p)
    assert k.stable and k.nontrivial and k.feature_learning
    assert k.updated_maximally[-1] is False and k.initialized_maximally is True
    assert not is_mup_class(p)


def test_per_layer_learning_rates_fold_into_a_b():
    # Giving every layer the same c_l must reproduce (a, b, c) exactly.
    p = mup(3)
    assert AbcParametrization.from_per_layer_lr(p.a, p.b, [0, 0, 0, 0]) == p
    # muP with per-layer LR exponents written as SP-style a = 0 except readout:
    # a_1 = -1/2 with c_1 = 0 equals a_1 = 0 with c_1 = -1 (LR n^{+1} on the input layer).
    q = AbcParametrization.from_per_layer_lr([0, 0, 0, F(1, 2)], [0, F(1, 2), F(1, 2), F(1, 2)], [-1, 0, 0, 0])
    assert q.equivalent(p) and classify(q).to_json() | {"a": 0, "b": 0} == classify(p).to_json() | {"a": 0, "b": 0}


def test_failed_condition_reports_amount():
    p = AbcParametrization([0, F(1, 2)], [F(1, 4), 0], 0)
    msgs = classify(p).failed_conditions
    assert any(m.startswith("(6) a_1 + b_1 = 0") and "off by +1/4" in m for m in msgs)
    assert classify(p).min_stable_c is None


def test_nontrivial_through_readout_update_alone_and_trivial_small_lr():
    # SP at L = 1 with LR 1/n: only the readout's update moves f (2 a_2 + c = 1, a_2 + b_2 + r = 2).
    k = classify(sp_stable(1))
    assert k.stable and k.nontrivial and k.kernel_regime
    assert k.updated_maximally == (False, True) and not k.initialized_maximally
    # muP with a smaller learning rate n^{-1/2}: stable but trivial (Theorem 3.4 fails on both faces).
    t = classify(mup(2).with_c(F(1, 2)))
    assert t.stable and t.nontrivial is False and t.feature_learning is None and t.regime == "trivial"
