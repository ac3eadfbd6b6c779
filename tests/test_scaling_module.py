"""Roles, side table, multipliers and param_groups on an MLP, a CNN and a transformer."""

import copy
import io
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from infwidth.errors import InfwidthError
from infwidth.scaling.models import TinyTransformer, cnn, lm_loss, mlp, rms
from infwidth.scaling.module import ScalingTable, apply, multipliers, param_groups, scale_model
from infwidth.scaling.roles import canonical_name, infer_roles, role_summary, shapes


def test_roles_mlp():
    s = role_summary(infer_roles(mlp(64, depth=3), mlp(16, depth=3)))
    assert s["embedding"] == ["0.weight", "0.bias", "2.bias", "4.bias"]
    assert s["hidden"] == ["2.weight", "4.weight"]
    assert s["readout"] == ["6.weight"] and s["fixed"] == ["6.bias"]


def test_roles_cnn():
    s = role_summary(infer_roles(cnn(32), cnn(8)))
    assert s["embedding"] == ["0.weight", "0.bias", "2.bias"]
    assert s["hidden"] == ["2.weight"] and s["readout"] == ["6.weight"] and s["fixed"] == ["6.bias"]


def test_roles_transformer_and_overrides():
    r = infer_roles(TinyTransformer(64), TinyTransformer(32))
    assert r["tok.weight"].role == "embedding" and r["pos.weight"].role == "embedding"  # nn.Embedding: dim 1
    assert r["blocks.0.qkv.weight"].role == "hidden" and r["blocks.1.fc2.weight"].role == "hidden"
    assert r["blocks.0.ln1.weight"].role == "embedding" and r["out.weight"].role == "readout"
    assert r["out.bias"].role == "fixed"
    assert r["blocks.0.fc1.weight"].width_mult == 2.0  # fan-in multiplier for hidden weights
    o = infer_roles(TinyTransformer(64), TinyTransformer(32), {"*.ln?.weight": "fixed"})
    assert o["blocks.1.ln2.weight"].role == "fixed"
    # explicit base shapes work like a base model
    assert infer_roles(TinyTransformer(64), shapes(TinyTransformer(32))) == r


def test_role_errors():
    with pytest.raises(InfwidthError, match="missing from the base"):
        infer_roles(mlp(32, depth=3), mlp(16, depth=2))
    with pytest.raises(InfwidthError, match="neither fan-in nor fan-out"):
        infer_roles(nn.Conv2d(3, 8, 5), nn.Conv2d(3, 8, 3))
    with pytest.raises(InfwidthError, match="role must be one of"):
        infer_roles(mlp(32), mlp(16), {"*": "output"})


def test_canonical_names():
    assert canonical_name("module._orig_mod.fc.parametrizations.weight.original") == "fc.weight"
    assert canonical_name("_fsdp_wrapped_module.blocks.0.qkv.bias") == "blocks.0.qkv.bias"


def _init_std(width, param, seeds=range(3)):
    out = {}
    for name in ("0.weight", "2.weight", "4.weight"):
        vals = []
        for s in seeds:
            torch.manual_seed(s)
            m = mlp(width)
            scale_model(m, mlp(32), param)
            w = dict(m.named_parameters())  # raw tensors; multiply by the multiplier for W
            mult = multipliers(m)[name]
            key = next(k for k in w if canonical_name(k) == name)
            vals.append(float(w[key].detach().std()) * mult)
        out[name] = float(np.mean(vals))
    return out


@pytest.mark.parametrize("param,expected", [("mup", (0, -0.5, -1)), ("sp", (0, -0.5, -0.5)),
                                            ("ntk", (0, -0.5, -0.5)), ("mf", (0, -0.5, -1))])
def test_effective_init_scales(param, expected):
    """Effective W = m^{-a} w has std ~ n^{-(a+b)} (fan-in O(1) for the embedding)."""
    small, big = _init_std(32, param), _init_std(512, param)
    slopes = [math.log(big[k] / small[k]) / math.log(16) for k in ("0.weight", "2.weight", "4.weight")]
    assert np.allclose(slopes, expected, atol=0.03)


def _delta(width, param, optimizer="adam", per_layer=True, steps=3, lr=2e-2, seed=0):
    torch.manual_seed(seed)
    m = mlp(width, depth=2)
    table = scale_model(m, mlp(64, depth=2), param, optimizer)
    g = torch.Generator().manual_seed(123)
    x, y = torch.randn(16, 8, generator=g), torch.randn(16, 4, generator=g)
    eps = 1e-12 if optimizer == "adam" else None
    if per_layer:
        groups = param_groups(m, table, lr=lr, eps=eps)
    else:
        groups = [{"params": list(m.parameters()), "lr": lr, **({"eps": eps} if eps else {})}]
    opt = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "adafactor": torch.optim.Adafactor}[optimizer](groups)
    h0, f0 = m[:4](x).detach(), m(x).detach()
    for _ in range(steps):
        opt.zero_grad()
        ((m(x) - y) ** 2).mean().backward()
        opt.step()
    return rms(m[:4](x) - h0), rms(m(x) - f0)


def _slopes(param, optimizer="adam", per_layer=True, widths=(64, 256, 1024)):
    d = np.array([[_delta(w, param, optimizer, per_layer, seed=s) for w in widths] for s in range(2)]).mean(0)
    logs = np.log(np.array(widths, dtype=float))
    return [float(np.polyfit(logs, np.log(d[:, i]), 1)[0]) for i in range(2)]


@pytest.mark.parametrize("param,optimizer", [("mup", "adam"), ("mf", "adam"), ("mup", "sgd"), ("mup", "adafactor")])
def test_derived_learning_rates_give_width_independent_updates(param, optimizer):
    """Coordinate check: with the derived per-layer LRs, Delta(hidden activations) and Delta(logits)
    after 3 steps do not grow or shrink with width (slope of log rms vs log n near 0). Adafactor is
    torch.optim.Adafactor (relative step: update scaled by the parameter's RMS)."""
    dh, df = _slopes(param, optimizer)
    assert abs(dh) < 0.2 and abs(df) < 0.2


def test_global_adam_lr_in_sp_blows_up():
    """The same check fails for SP with one global Adam LR (the plain PyTorch model, PyTorch practice):
    Delta f grows like n (c_readout = 1)."""
    d = []
    for w in (64, 256, 1024):
        torch.manual_seed(0)
        m = mlp(w, depth=2)
        g = torch.Generator().manual_seed(123)
        x, y = torch.randn(16, 8, generator=g), torch.randn(16, 4, generator=g)
        opt = torch.optim.Adam(m.parameters(), lr=2e-2, eps=1e-12)
        f0 = m(x).detach()
        for _ in range(3):
            opt.zero_grad()
            ((m(x) - y) ** 2).mean().backward()
            opt.step()
        d.append(rms(m(x) - f0))
    assert np.polyfit(np.log([64, 256, 1024]), np.log(d), 1)[0] > 0.7


def _train_steps(m, table, x, y, steps=4, opt_cls=torch.optim.AdamW, weight_decay=0.1):
    opt = opt_cls(param_groups(m, table, lr=1e-2, eps=1e-10, weight_decay=weight_decay))
    for _ in range(steps):
        opt.zero_grad()
        ((m(x) - y) ** 2).mean().backward()
        opt.step()
    return m(x).detach()


@pytest.mark.parametrize("optimizer,opt_cls", [("adam", torch.optim.AdamW), ("sgd", torch.optim.SGD)])
def test_gauges_train_identically(optimizer, opt_cls):
    """mup, absorbed and multipliers gauges (the per-layer symmetry): the same function after training,
    decoupled weight decay included (lr * wd is gauge-independent)."""
    x, y = torch.randn(8, 8, dtype=torch.float64), torch.randn(8, 4, dtype=torch.float64)
    outs = {}
    for gauge in ("mup", "absorbed", "multipliers"):
        torch.manual_seed(0)
        m = mlp(256).double()
        t = scale_model(m, mlp(32).double(), "mup", optimizer, gauge=gauge)
        outs[gauge] = _train_steps(m, t, x, y, opt_cls=opt_cls)
        if gauge == "absorbed":
            assert all(v == 1.0 for v in multipliers(m).values())  # nothing in the forward pass
            assert not any(n.endswith(".original") for n in m.state_dict())
        if gauge == "mup":
            assert multipliers(m)["4.weight"] == pytest.approx(1 / 8) and multipliers(m)["4.bias"] == 1.0
    for gauge in ("absorbed", "multipliers"):
        assert torch.allclose(outs["mup"], outs[gauge], rtol=1e-8, atol=1e-10), gauge


def test_default_gauge_keeps_the_state_dict():
    torch.manual_seed(0)
    m = TinyTransformer(64)
    names = {k: v.shape for k, v in m.state_dict().items()}
    scale_model(m, TinyTransformer(32))
    assert {k: v.shape for k, v in m.state_dict().items()} == names


def _scaled_transformer():
    torch.manual_seed(0)
    m = TinyTransformer(64)
    t = scale_model(m, TinyTransformer(32), "mup")
    return m, t


def _lrs(model, table):
    return sorted((g["role"], g["lr"], g["eps"], sum(p.numel() for p in g["params"]))
                  for g in param_groups(model, table, lr=1e-3, eps=1e-8))


def test_save_load_round_trip():
    m, t = _scaled_transformer()
    idx = torch.randint(0, 64, (2, 16), generator=torch.Generator().manual_seed(0))
    buf = io.BytesIO()
    torch.save({"model": m.state_dict(), "table": t.to_dict()}, buf)
    buf.seek(0)
    ck = torch.load(buf, weights_only=True)
    t2 = ScalingTable.from_dict(json.loads(json.dumps(ck["table"])))
    m2 = TinyTransformer(64)
    m2.load_state_dict(ck["model"])  # the plain model's keys
    apply(m2, t2, rescale_init=False)  # only the wrappers
    assert t2 == t and _lrs(m2, t2) == _lrs(m, t)
    assert torch.equal(m(idx), m2(idx))


def test_whole_module_pickling():
    """torch.save(model) pickles the whole scaled module, wrappers included, and it trains the same way."""
    m, t = _scaled_transformer()
    buf = io.BytesIO()
    torch.save(m, buf)
    buf.seek(0)
    m2 = torch.load(buf, weights_only=False)
    idx = torch.randint(0, 64, (2, 16))
    assert multipliers(m2)["out.weight"] == pytest.approx(0.5)
    assert torch.equal(m(idx), m2(idx)) and _lrs(m2, t) == _lrs(m, t)


def test_deepcopy_round_trip():
    m, t = _scaled_transformer()
    m2 = copy.deepcopy(m)
    assert _lrs(m2, t) == _lrs(m, t) and multipliers(m2) == multipliers(m)
    idx = torch.randint(0, 64, (2, 16))
    assert torch.equal(m(idx), m2(idx))


def test_compile_round_trip():
    """torch.compile (backend 'eager': Dynamo tracing without Inductor codegen, for CPU speed)."""
    m, t = _scaled_transformer()
    m2 = copy.deepcopy(m)
    cm = torch.compile(m2, backend="eager")
    assert any(n.startswith("_orig_mod.") for n, _ in cm.named_parameters())
    assert _lrs(cm, t) == _lrs(m, t)
    idx = torch.randint(0, 64, (2, 16), generator=torch.Generator().manual_seed(1))
    losses = []
    for model in (m, cm):
        opt = torch.optim.Adam(param_groups(model, t, lr=1e-3, eps=1e-8))
        for _ in range(2):
            opt.zero_grad()
            loss = lm_loss(model, idx)
            loss.backward()
            opt.step()
        losses.append(float(lm_loss(model, idx).detach()))
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


def test_param_groups_is_pure_and_complete():
    m, t = _scaled_transformer()
    before = {n: p.clone() for n, p in m.named_parameters()}
    groups = param_groups(m, t, lr=1e-3, weight_decay=0.1, betas=(0.9, 0.95))
    assert sum(len(g["params"]) for g in groups) == len(list(m.parameters()))
    assert all(g["betas"] == (0.9, 0.95) for g in groups)
    assert all(g["weight_decay"] * g["lr"] == pytest.approx(0.1 * 1e-3) for g in groups)  # lr * wd as at the base
    assert all(torch.equal(p, before[n]) for n, p in m.named_parameters())
    hidden = next(g for g in groups if g["role"] == "hidden")
    assert hidden["lr"] == pytest.approx(1e-3 / 2)  # muP + Adam: hidden c = 1, width ratio 2
    torch.optim.AdamW(groups)  # accepted by a stock optimizer
