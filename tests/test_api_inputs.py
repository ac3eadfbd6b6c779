"""The Python API takes NumPy numbers exactly and refuses the rest with one InfwidthError sentence (never an
AttributeError/TypeError from deep inside, never a silent guess such as a set's order)."""

from fractions import Fraction

import numpy as np
import pytest
import torch

from infwidth.errors import InfwidthError
from infwidth.nn import AbcMLP
from infwidth.parametrization import AbcParametrization, classify, preset
from infwidth.parametrization.rational import to_fraction
from infwidth.scaling.module import plan, scale_model


@pytest.mark.parametrize("value, exact", [
    (np.float64(0.5), Fraction(1, 2)), (np.float64(-0.375), Fraction(-3, 8)), (np.float32(0.25), Fraction(1, 4)),
    (np.float16(-1.5), Fraction(-3, 2)), (np.int64(3), Fraction(3)), (np.int8(-2), Fraction(-2)),
    (np.uint16(7), Fraction(7)), (np.array(0.5), Fraction(1, 2)), (np.array(-4), Fraction(-4)),
])
def test_numpy_scalars_are_exact_exponents(value, exact):
    assert to_fraction(value) == exact and type(to_fraction(value)) is Fraction


def test_numpy_exponents_build_the_same_parametrization():
    p = AbcParametrization(np.array([-0.5, 0.0, 0.5]), [np.float64(0.5)] * 3, np.int64(0))
    assert p == preset("mup", 2) and classify(p).feature_learning


@pytest.mark.parametrize("value", [np.float64(0.1), np.float32(0.1), np.float64("nan"), np.float64("inf"),
                                   np.bool_(True), np.array([0.5, 0.5])])
def test_inexact_or_non_numbers_are_refused(value):
    with pytest.raises(InfwidthError):
        to_fraction(value)


@pytest.mark.parametrize("call, words", [
    (lambda: classify([-0.5, 0.5]), "classify needs an AbcParametrization"),
    (lambda: classify("mup"), "classify needs an AbcParametrization"),
    (lambda: AbcParametrization({0, 0.5}, [0.5, 0.5], 0), "ordered sequence"),  # was: the set's order, silently
    (lambda: AbcParametrization({"x": 0, "y": 0.5}, [0.5, 0.5], 0), "ordered sequence"),
    (lambda: AbcParametrization("-1/2,1/2", [0.5, 0.5], 0), "sequence of numbers"),
    (lambda: AbcParametrization([0, 0], [0, 0], [0]), "must be a number"),
    (lambda: plan(torch.nn.Linear(4, 4), 32), "plan(model, base)"),  # was: AttributeError
    (lambda: scale_model(torch.nn.Linear(4, 4), 32), "plan(model, base)"),
    (lambda: plan("gpt2", torch.nn.Linear(4, 4)), "plan(model, base)"),
    (lambda: preset("mup", True), "depth must be an integer"),
    (lambda: preset("mup", 2.0), "depth must be an integer"),
    (lambda: AbcMLP("mup", 64, d_in=3), "an AbcParametrization"),
    (lambda: AbcMLP(preset("mup", 2), 64.5, d_in=3), "integers >= 1"),  # was: TypeError from torch.randn
    (lambda: AbcMLP(preset("mup", 2), 0, d_in=3), "integers >= 1"),
])
def test_wrong_types_are_one_sentence(call, words):
    with pytest.raises(InfwidthError, match=None) as info:
        call()
    assert words in str(info.value)


def test_numpy_integers_are_accepted_as_sizes():
    p = preset("mup", np.int64(2))
    assert p.depth == 2
    net = AbcMLP(p, np.int64(16), d_in=np.int32(3))
    assert net(torch.zeros(1, 3)).shape == (1, 1)
