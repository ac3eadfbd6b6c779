"""Finite-width muP networks converge to the muP limit under MAML (same meta-init, same tasks)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from infwidth.data.omniglot import TaskSampler, load_omniglot
from infwidth.errors import InfwidthError
from infwidth.maml.core import MAMLConfig
from infwidth.maml.fast_linear import adapted_query_logits, meta_step_linear
from infwidth.maml.models import MupLinear1LP

WIDTHS = (64, 256, 1024, 4096)


def _trained(width: int | None, seed: int, train: TaskSampler) -> MupLinear1LP:
    net = MupLinear1LP(784, 5, width=width, sigma_u=1.0, sigma_v=0.25, bias_alpha=1.0, seed=seed)
    cfg = MAMLConfig(inner_lr=0.4, inner_steps=1, grad_clip=0.5)
    for it in range(4):
        meta_step_linear(net, train.batch(8 * it, 8), cfg, 0.4)
    return net


def test_adapted_predictions_converge_to_limit_as_width_grows() -> None:
    try:
        data = load_omniglot()
    except InfwidthError as e:  # pragma: no cover
        pytest.skip(str(e))
    train = TaskSampler(data.split_images("train"), rotations=True, seed=0)
    test = TaskSampler(data.split_images("test"), seed=1).batch(0, 8)
    limit = _trained(None, 0, train)
    ref = adapted_query_logits(limit, test, 0.4, 5)
    assert float(ref.std()) > 0.05  # the limit moved: logits are not trivially zero
    errs = []
    for n in WIDTHS:
        e = [float((adapted_query_logits(_trained(n, s, train), test, 0.4, 5) - ref).pow(2).mean().sqrt())
             for s in range(3)]
        errs.append(np.mean(e))
    assert all(a > b for a, b in itertools.pairwise(errs)), errs
    slope = np.polyfit(np.log(WIDTHS), np.log(errs), 1)[0]
    print("errors", errs, "slope", slope)
    assert -0.75 < slope < -0.3, (slope, errs)   # Monte Carlo rate n^{-1/2}
    assert errs[-1] < 0.2 * float(ref.abs().mean()), errs
