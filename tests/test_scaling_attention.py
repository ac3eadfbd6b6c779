"""muP's 1/d attention scale on standard attention implementations, without editing model code: exact
against scaling the query projection by hand (the logits q.k get the factor sqrt(d_base / d))."""

import copy
import math
import warnings

import pytest
import torch

import zoo
from infwidth.scaling import hooks, scale_model


def test_sdpa_in_user_code_gets_one_over_d():
    """nanoGPT calls F.scaled_dot_product_attention itself: head size 16 -> 32 (2 heads), factor sqrt(1/2)."""
    torch.manual_seed(0)
    model = zoo.nanogpt(64, heads=2)
    table = scale_model(model, zoo.nanogpt(32, heads=2), attention="1/d", base_head_dim=16)
    assert table.modules["transformer.h.0"].kind == "attention-sdpa"
    ref = copy.deepcopy(model)
    for blk in ref.transformer.h:
        hooks.uninstall(blk)
        with torch.no_grad():
            blk.c_attn.weight[:64] *= math.sqrt(16 / 32)
            blk.c_attn.bias[:64] *= math.sqrt(16 / 32)
    x = zoo.batch("nanogpt", 2)["inputs"]
    out, want = model(x), ref(x)
    assert torch.allclose(out, want, atol=1e-6)
    plain = copy.deepcopy(ref)
    with torch.no_grad():
        for blk in plain.transformer.h:
            blk.c_attn.weight[:64] /= math.sqrt(16 / 32)
            blk.c_attn.bias[:64] /= math.sqrt(16 / 32)
    assert not torch.allclose(out, plain(x), atol=1e-4)  # the scale did change the function


def test_multihead_attention_gets_one_over_d():
    """nn.MultiheadAttention (ViT, 2 heads, head size 16 -> 64): training path, need_weights=True, and the
    inference fast path all see the same logit scale."""
    torch.manual_seed(0)
    model = zoo.vit(128, heads=2)
    scale_model(model, zoo.vit(32, heads=2), attention="1/d")
    ref = copy.deepcopy(model)
    for blk in ref.blocks:
        hooks.uninstall(blk.attn)
        with torch.no_grad():
            blk.attn.in_proj_weight[:128] *= 0.5
            blk.attn.in_proj_bias[:128] *= 0.5
    img = zoo.batch("vit", 2)["inputs"]
    assert torch.allclose(model(img), ref(img), atol=1e-6)
    h = torch.randn(2, 5, 128)
    a, r = model.blocks[0].attn, ref.blocks[0].attn
    assert torch.allclose(a(h, h, h, need_weights=True)[1], r(h, h, h, need_weights=True)[1], atol=1e-6)
    model.eval()
    ref.eval()
    with torch.no_grad():
        assert torch.allclose(model(img), ref(img), atol=1e-6)


def test_warning_when_head_size_grows_and_sqrt_d_is_kept():
    with pytest.warns(UserWarning, match=r"head size of 'blocks.0.attn' and 1 more .* grows with width \(16 -> 64\)"):
        scale_model(zoo.vit(128, heads=2), zoo.vit(32, heads=2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scale_model(zoo.vit(128), zoo.vit(32))  # head size fixed (16): nothing to warn about


def test_output_mult_multiplies_the_readout_input():
    torch.manual_seed(0)
    m = zoo.hf_llama(64)
    scale_model(m, zoo.hf_llama(32), output_mult=3.0)
    assert hooks.wrapper_of(m.lm_head).scale == pytest.approx(3.0 / 2)
