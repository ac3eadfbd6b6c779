"""Roles of every tensor of third-party models (tied, Conv1D, any rank), and init from the base's own tensors."""

import math

import pytest
import torch
from torch import nn

import zoo
from infwidth.scaling import explain, plan, scale_model
from infwidth.scaling.models import rms
from infwidth.scaling.module import multipliers
from infwidth.scaling.roles import infer_roles, role_summary, tensors

transformers = pytest.importorskip("transformers")


def test_tied_gpt2_roles_and_explain():
    rows = {r.parameter: r for r in explain(zoo.hf_gpt2(128), zoo.hf_gpt2(32))}
    wte, head = rows["transformer.wte.weight"], rows["lm_head.weight"]
    assert (wte.role, wte.multiplier, wte.lr_factor) == ("embedding", 1.0, 1.0)
    assert (head.role, head.tied_to, head.lr_factor) == ("readout", "transformer.wte.weight", 1.0)
    assert head.multiplier == pytest.approx(1 / 4)  # mup's MuSharedReadout: 1/m on the readout side
    fc = rows["transformer.h.0.mlp.c_fc.weight"]  # Conv1D weight (in, out) = (D, 4D)
    assert fc.role == "hidden" and fc.width_mult == 4 and fc.lr_factor == pytest.approx(1 / 4)
    assert "fan-in dim 0" in fc.reason
    for name, r in rows.items():  # Conv1D biases are vectors: no readout factor, no multiplier
        if name.endswith("bias"):
            assert (r.role, r.multiplier, r.lr_factor) == ("embedding", 1.0, 1.0), name


def test_conv1d_readout_bias_gets_no_factor():
    from transformers.pytorch_utils import Conv1D

    def head(d):
        return nn.Sequential(nn.Linear(3, d), nn.Tanh(), Conv1D(7, d))  # Conv1D(nf=7 out, nx=d in)

    torch.manual_seed(0)
    m = head(64)
    table = scale_model(m, head(16))
    assert table["2.weight"].role == "readout" and table["2.bias"].role == "fixed"
    mult = multipliers(m)
    assert mult["2.weight"] == pytest.approx(1 / 4) and mult["2.bias"] == 1.0
    x = torch.randn(5, 3)
    h = m[1](m[0](x))
    assert torch.allclose(m(x), h @ m[2].weight / 4 + m[2].bias, atol=1e-6)  # (x/m) W + b, bias untouched


def test_vit_tokens_and_raw_positional_parameter_are_embeddings():
    r = infer_roles(zoo.vit(128), zoo.vit(32))
    assert r["cls_token"].role == "embedding" and r["pos_embed"].role == "embedding"
    assert r["cls_token"].width_mult == 4 and r["blocks.0.attn.in_proj_weight"].role == "hidden"

    class RawPos(nn.Module):  # a raw (context, width) positional table, the docs' old example
        def __init__(self, d):
            super().__init__()
            self.pos = nn.Parameter(torch.randn(10, d) * 0.02)
            self.fc = nn.Linear(d, d)

    torch.manual_seed(1)
    t = plan(RawPos(256), RawPos(64))
    assert (t["pos"].role, t["pos"].multiplier, t["pos"].lr_mult) == ("embedding", 1.0, 1.0)
    rows = {row.parameter: row for row in explain(RawPos(256), RawPos(64))}
    assert abs(math.log(rows["pos"].init_factor)) < 0.2  # width-independent init (was 2.0 at 4x width)


def test_roles_of_the_zoo():
    s = role_summary(infer_roles(zoo.resnet(32), zoo.resnet(16)))
    assert "conv1.weight" in s["embedding"] and "layer2.conv1.weight" in s["hidden"]
    assert s["readout"] == ["fc.weight"] and s["fixed"] == ["fc.bias"]
    b = infer_roles(zoo.hf_bert(64), zoo.hf_bert(32))
    assert b["classifier.weight"].role == "readout" and b["bert.pooler.dense.weight"].role == "hidden"
    ll = infer_roles(zoo.hf_llama(64), zoo.hf_llama(32))
    assert ll["lm_head.weight"].role == "readout" and not ll["lm_head.weight"].tied_readouts()
    n = infer_roles(zoo.nanogpt(64), zoo.nanogpt(32))
    assert [h.name for h in n["transformer.wte.weight"].holders] == ["transformer.wte.weight", "lm_head.weight"]


def test_delta_model_gives_roles_at_equal_widths():
    """Model and base at the same width: only a delta model reveals the width dims (mup's delta)."""
    r = infer_roles(zoo.nanogpt(32), zoo.nanogpt(32), delta=zoo.nanogpt(64))
    assert r["transformer.h.0.c_fc.weight"].role == "hidden" and r["transformer.h.0.c_fc.weight"].width_mult == 1
    assert infer_roles(zoo.nanogpt(32), zoo.nanogpt(32))["transformer.h.0.c_fc.weight"].role == "fixed"


def test_overrides_apply_before_shape_checks():
    from infwidth.errors import InfwidthError

    with pytest.raises(InfwidthError, match="neither fan-in nor fan-out"):
        infer_roles(nn.Conv2d(3, 8, 5), nn.Conv2d(3, 8, 3))
    r = infer_roles(nn.Conv2d(3, 8, 5), nn.Conv2d(3, 8, 3), {"weight": "fixed"})
    assert r["weight"].role == "fixed" and r["weight"].reason.startswith("override")


@pytest.mark.parametrize("name", sorted(zoo.FACTORIES))
def test_init_targets_come_from_the_base_tensors(name):
    """After scaling, each stored tensor is its own draw times one factor, with RMS = RMS_base m^{-b}
    (muP, mup gauge: b = 0 for vectors, embeddings and readouts, 1/2 for hidden tensors); zero and
    constant tensors (HF biases, norm gains) are untouched."""
    factory = zoo.FACTORIES[name]
    torch.manual_seed(0)
    base = factory(16)
    torch.manual_seed(1)
    model = factory(64)
    before = {k: t.param.detach().clone() for k, t in tensors(model).items()}
    table = scale_model(model, base)
    base_t = tensors(base)
    for k, t in tensors(model).items():
        w0, w = before[k], t.param.detach()
        if bool((w0 == w0.reshape(-1)[0]).all()):
            assert torch.equal(w, w0), k
            continue
        expect = rms(base_t[k].param) * table[k].width_mult ** -float(eval(table[k].b))
        assert rms(w) == pytest.approx(expect, rel=1e-6), k
        f = rms(w) / rms(w0)
        assert torch.allclose(w, w0 * f, rtol=1e-5, atol=0), k  # the draw's shape is kept
        if table[k].role == "hidden":
            assert table[k].b == "1/2", k


def test_readout_zero_init():
    torch.manual_seed(0)
    m = zoo.hf_llama(64)
    scale_model(m, zoo.hf_llama(32), readout_zero_init=True)
    assert float(m.lm_head.weight.detach().abs().max()) == 0.0
    assert float(m.model.embed_tokens.weight.detach().abs().max()) > 0.0
