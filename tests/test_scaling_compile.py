"""torch.compile: a scaled model trains under inductor exactly as in eager mode, and Dynamo never reuses a
graph compiled for the plain model (the wrappers are instance ``forward``s, which Dynamo guards on; forward
*hooks* added to a model of a class compiled before would be silently skipped).

A tiny nanoGPT (width 32, 1 block, 2 heads) with the readout multiplier and the 1/d attention mode, so both
wrappers are compiled. Inductor generates and compiles C++ for the forward and backward graphs: measured
25-220 s for the inductor test on the shared 2-core machine (warm / cold inductor cache, load 4-22), hence
its ``slow`` mark (still run in CI).
"""

import copy

import pytest
import torch

import zoo
from infwidth.scaling import param_groups, scale_model


def _pair():
    torch.manual_seed(0)
    plain = zoo.nanogpt(32, layers=1, heads=2)
    scaled = copy.deepcopy(plain)
    table = scale_model(scaled, zoo.nanogpt(16, layers=1, heads=2), attention="1/d", base_head_dim=8)
    return plain, scaled, table


def _losses(model, table, batch, steps=3):
    opt = torch.optim.Adam(param_groups(model, table, lr=1e-2, eps=1e-8))
    out = []
    for _ in range(steps):
        opt.zero_grad()
        loss = zoo.loss("nanogpt", model, batch)
        loss.backward()
        opt.step()
        out.append(float(loss.detach()))
    return out


def test_dynamo_never_reuses_the_plain_graph():
    torch._dynamo.reset()
    plain, scaled, _ = _pair()
    x = zoo.batch("nanogpt", 2)["inputs"]
    with torch.no_grad():
        y_plain = torch.compile(plain, backend="eager")(x)  # compiled first, without the wrappers
        y_scaled = torch.compile(scaled, backend="eager")(x)
        assert not torch.allclose(y_plain, y_scaled, atol=1e-3)
        assert torch.allclose(y_scaled, scaled(x), rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_inductor_trains_like_eager():
    torch._dynamo.reset()
    _, scaled, table = _pair()
    batch = zoo.batch("nanogpt", 2)
    eager = _losses(copy.deepcopy(scaled), table, batch)
    compiled = _losses(torch.compile(copy.deepcopy(scaled), backend="inductor"), table, batch)
    assert compiled == pytest.approx(eager, rel=1e-5)
