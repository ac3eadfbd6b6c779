"""Coordinate check for any nn.Module: predicted exponents, module kinds, verdicts, factory specs, CLI."""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction
from pathlib import Path

import pytest
import torch
from torch import nn

from _cli import run_cli
from infwidth.errors import InfwidthError
from infwidth.nn.predicted_sizes import Quantity, predicted_exponents
from infwidth.parametrization import mup as tp4_mup
from infwidth.parametrization import sp as tp4_sp
from infwidth.scaling.coordcheck import coord_check_model
from infwidth.scaling.exponents import PARAMETRIZATIONS, derive, role_ab
from infwidth.scaling.factory import build, load_factory
from infwidth.scaling.models import TinyTransformer, cnn, mlp
from infwidth.scaling.predict import predict
from infwidth.scaling.probe import parse_data

HALF = Fraction(1, 2)


pytestmark = pytest.mark.usefixtures("one_thread")  # small models: one torch thread


# ----------------------------------------------------------------------------------------------- predictions


@pytest.mark.parametrize("param", PARAMETRIZATIONS)
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adafactor"])
@pytest.mark.parametrize("alignment", ["full", "none"])
def test_derived_rates_reproduce_the_derivations_targets(param: str, optimizer: str, alignment: str) -> None:
    """With the derived per-layer rates, the first-order propagation gives back what the rates were derived for:
    Delta h = Theta(h) (hidden: n^0) and Delta f = Theta(1) in the steady state, f_0 ~ n^{1/2 - a - b}."""
    p = predict(param, optimizer, alignment)
    a, b = role_ab(param)["readout"]
    assert p.stable
    assert p.hidden_init == (0, 0) and p.logits_init == HALF - a - b
    assert p.hidden_delta_later == (0, 0) and p.logits_delta_later == 0
    assert p.lr == derive(param, optimizer, alignment).lr()
    assert p.hidden_delta[1] <= 0 and p.logits_delta <= 0  # the first step never exceeds the target


def test_mup_predictions_are_the_ones_in_the_papers() -> None:
    """muP + Adam: hidden changes and logit changes Theta(1), logits at init n^{-1/2} (TP4 Sec. 5, Everett et al.)."""
    p = predict("mup", "adam")
    assert (p.hidden_init, p.hidden_delta, p.logits_delta, p.logits_init) == ((0, 0), (0, 0), 0, -HALF)


def test_sp_global_sgd_first_step_equals_tp4_algebra() -> None:
    """SP with one global SGD rate (c = 0): the first-step blow-up exponents equal the independent TP4 algebra
    of infwidth.nn.predicted_sizes (Delta h^2_1 ~ n^{1/2}, Delta f_1 ~ n; Delta h^1_1 ~ n^{-1/2})."""
    p = predict("sp-global", "sgd")
    tp4 = predicted_exponents(tp4_sp(2), steps=1)
    assert p.hidden_delta == (tp4[Quantity("dh", 1, 1)], tp4[Quantity("dh", 2, 1)]) == (-HALF, HALF)
    assert p.logits_delta == tp4[Quantity("df", 0, 1)] == 1
    assert not p.stable
    m = predict("mup", "sgd")
    tm = predicted_exponents(tp4_mup(2), steps=2)
    assert m.hidden_delta == (tm[Quantity("dh", 1, 1)], tm[Quantity("dh", 2, 1)])
    assert m.logits_init == tm[Quantity("f0", 0, 0)] and m.logits_delta == tm[Quantity("df", 0, 2)]


def test_sp_global_adam_grows_by_the_missing_lr_exponent() -> None:
    """Adam's update size does not depend on the gradient, so one global rate makes every hidden change larger
    than its target by n^{c_hidden} (c = 1 derived for SP, full alignment) and the logits' by n^{c_readout}."""
    p = predict("sp-global", "adam")
    c = derive("sp", "adam", "full").lr()
    assert p.hidden_delta == (0, c[1]) and p.logits_delta == c[2] == 1
    assert predict("sp-global", "adam", "none").hidden_delta == (0, derive("sp", "adam", "none").lr()[1])
    with pytest.raises(InfwidthError, match="unknown parametrization"):
        predict("mup-global")


# ----------------------------------------------------------------------------------------------- measurement


def _mlp(width: int) -> nn.Module:
    return mlp(width, d_in=8, d_out=16, depth=2)


def _tt(width: int) -> nn.Module:
    return TinyTransformer(width, vocab=48, ctx=16, layers=2)


WIDTHS = (32, 64, 128, 256)


@pytest.mark.parametrize("factory", [_mlp, _tt], ids=["mlp", "transformer"])
def test_mup_passes_and_sp_global_is_flagged(factory: object) -> None:
    """PyTorch-default models: muP + Adam PASSes (every hidden output and the logits scale as derived);
    SP with one global Adam learning rate is FLAGGED (its changes grow with width, as derived)."""
    r = coord_check_model(factory, WIDTHS, parametrization="mup", seeds=2, steps=2)  # type: ignore[arg-type]
    assert r.verdict == "PASS" and r.ok, r.summary()
    assert {"hidden", "logits"} <= set(r.kinds.values())
    s = coord_check_model(factory, WIDTHS, parametrization="sp-global", seeds=2, steps=2)  # type: ignore[arg-type]
    assert s.verdict == "FLAGGED" and s.ok, s.summary()
    logits = s.worst("logits")
    assert logits is not None and logits.ci_low > 0.5  # Delta f ~ n^1 predicted; clearly growing
    assert "FLAGGED" in s.summary() and logits.module in s.summary()


def test_module_kinds_come_from_shapes_and_training() -> None:
    """Width-sized outputs are hidden, width-independent ones logits, outputs training never changes constant;
    an outer module returning an inner module's tensor is reported once (under the inner one)."""

    class Rotary(nn.Module):  # a parameter-free table of fixed shape, like Llama's rotary embedding
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cos(torch.arange(x.shape[0] * 4, dtype=x.dtype)).reshape(x.shape[0], 4)

    class Net(nn.Module):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.inp, self.hid, self.out, self.rot = nn.Linear(8, width), nn.Linear(width, width), \
                nn.Linear(width, 6), Rotary()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(torch.relu(self.hid(torch.relu(self.inp(x))))) + 0 * self.rot(x).sum()

    r = coord_check_model(Net, (32, 64, 128), seeds=1, steps=1)
    assert r.kinds["inp"] == r.kinds["hid"] == "hidden"
    assert r.kinds["out"] == "logits" and r.kinds["rot"] == "constant"
    assert r.kinds["(model)"] == "logits"  # "+ 0 * ..." makes a new tensor: the model's output is judged too
    assert r.offsets == {"out": "nonzero width-independent bias"}  # nn.Linear's default bias: f_0 -> Theta(1)
    r2 = coord_check_model(_mlp, (32, 64, 128), seeds=1, steps=1)
    assert "(model)" not in r2.kinds  # nn.Sequential returns its last layer's tensor: reported once

    class Tied(nn.Module):  # readout tied to the input embedding, no bias
        def __init__(self, width: int) -> None:
            super().__init__()
            self.emb, self.norm, self.out = nn.Embedding(20, width), nn.LayerNorm(width), nn.Linear(width, 20, False)
            self.out.weight = self.emb.weight

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.norm(self.emb(x)))

    r3 = coord_check_model(Tied, (32, 64, 128), seeds=1, steps=1)
    assert r3.kinds["out"] == "logits" and r3.offsets == {"out": "weight tied to an input embedding"}


def test_mis_scaled_model_fails_and_names_the_offender() -> None:
    """A model whose output is multiplied by sqrt(width) (a forgotten readout multiplier) fails muP, and the
    summary names the module that produces the mis-scaled logits."""

    class Forgot(nn.Module):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.body, self.scale = _mlp(width), math.sqrt(width)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x) * self.scale

    r = coord_check_model(Forgot, WIDTHS, parametrization="mup", seeds=2, steps=2)
    assert r.verdict == "FAIL" and not r.ok
    assert r.offenders[0].module == "(model)" and "(model)" in r.summary()
    assert all(f.verdict == "pass" for f in r.fits if f.module != "(model)" and f.verdict != "-")


def test_data_guess_user_batch_and_bad_inputs(tmp_path: Path) -> None:
    """Inputs are guessed from the first layer (vectors, tokens, images), or taken from a user batch; a model
    that rejects them, too few widths or an unknown name are one InfwidthError sentence each."""
    assert coord_check_model(_mlp, (16, 32, 64), seeds=1, steps=1).data == "vectors:8"
    assert coord_check_model(_tt, (16, 32, 64), seeds=1, steps=1).data == "tokens:48x16"
    assert coord_check_model(lambda w: cnn(w, classes=4), (8, 16, 32), seeds=1, steps=1).data == "images:3x16x16"
    x, y = torch.randn(6, 8), torch.randint(0, 16, (6,))
    r = coord_check_model(_mlp, (16, 32, 64), seeds=2, steps=1, batch={"inputs": x, "labels": y})
    assert r.data == "user batch" and r.verdict in ("PASS", "FAIL", "FLAGGED")
    assert parse_data("images:3") is not None and parse_data("auto") is None
    for bad in ("tokens", "images:3x0x4", "pictures:3", "tokens:a:b"):
        with pytest.raises(InfwidthError, match="--data"):
            parse_data(bad)
    with pytest.raises(InfwidthError, match="rejected random inputs"):
        coord_check_model(_mlp, (16, 32, 64), data="vectors:5")
    with pytest.raises(InfwidthError, match="at least 3 distinct"):
        coord_check_model(_mlp, (16, 32, 32))
    with pytest.raises(InfwidthError, match="unknown parametrization"):
        coord_check_model(_mlp, (16, 32, 64), parametrization="nu-p")
    with pytest.raises(InfwidthError, match="learning rate"):
        coord_check_model(_mlp, (16, 32, 64), lr=math.nan)


# ----------------------------------------------------------------------------------------------- factories


def test_factory_specs_and_their_errors(tmp_path: Path) -> None:
    """MODULE:FACTORY and path/to/file.py:FACTORY load; every malformed spec is one sentence naming the fix."""
    assert load_factory("infwidth.scaling.models:mlp") is mlp
    f = tmp_path / "mymodels.py"
    f.write_text("from torch import nn\n\ndef make(width):\n    return nn.Linear(4, width)\n\nnot_callable = 3\n"
                 "def broken(width):\n    raise RuntimeError('boom')\n\ndef wrong(width):\n    return 'x'\n")
    make = load_factory(f"{f}:make")
    assert isinstance(build(make, 7), nn.Linear) and build(make, 7).out_features == 7
    cases = {"nocolon": "MODULE:FACTORY", "infwidth.scaling.models:": "MODULE:FACTORY",
             "no_such_pkg_xyz.models:make": "no module named 'no_such_pkg_xyz'",
             "infwidth.scaling.models:nothing": "has no attribute 'nothing'",
             f"{f}:not_callable": "not a callable", f"{tmp_path}/missing.py:make": "does not exist",
             "infwidth.scaling.models:1bad": "not a Python name", "a b:make": "neither a dotted module name"}
    for spec, msg in cases.items():
        with pytest.raises(InfwidthError, match=re.escape(msg)):
            load_factory(spec)
    with pytest.raises(InfwidthError, match="raised RuntimeError: boom"):
        build(load_factory(f"{f}:broken"), 8, "broken")
    with pytest.raises(InfwidthError, match=r"not a torch\.nn\.Module"):
        build(load_factory(f"{f}:wrong"), 8, "wrong")


# ----------------------------------------------------------------------------------------------- CLI


def test_cli_model_mode_writes_files_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """infwidth coordcheck --model: JSON verdict, CSV/JSON/PNG files; a model-mode batch file; exit 0 on PASS."""
    common = ["--widths", "32,64,128", "--seeds", "1", "--steps", "1", "--out-dir", str(tmp_path), "--json"]
    code, out, err = run_cli(["coordcheck", "--model", "infwidth.scaling.models:TinyTransformer", *common], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert res["verdict"] == "PASS" and res["data"] == "tokens:64x16"
    for key in ("raw_csv", "fits_csv", "png", "json"):
        assert Path(res["files"][key]).is_file()
    torch.save({"inputs": torch.randint(0, 64, (4, 8)), "labels": torch.randint(0, 64, (4, 8))}, tmp_path / "b.pt")
    code, out, err = run_cli(["coordcheck", "--model", "infwidth.scaling.models:TinyTransformer", "--batch-file",
                              str(tmp_path / "b.pt"), "--name", "fromfile", *common], capsys)
    assert code == 0, err
    assert json.loads(out)["data"] == "user batch" and (tmp_path / "fromfile.png").is_file()


@pytest.mark.parametrize("args, msg", [
    (["--model", "nocolon"], "MODULE:FACTORY"),
    (["--model", "infwidth.scaling.models:mlp", "--depth", "2"], "--depth applies to the built-in MLP"),
    (["--optimizer", "adam", "--parametrization", "mup", "--depth", "1"], "--optimizer needs --model"),
    (["--model", "infwidth.scaling.models:mlp", "--batch-file", "/nonexistent/b.pt"], "does not exist"),
    (["--model", "infwidth.scaling.models:mlp", "--data", "pictures:3"], "--data"),
    (["--model", "infwidth.scaling.models:mlp", "--widths", "64,128"], "at least 3 distinct"),
    (["--model", "infwidth.scaling.models:mlp", "--parametrization", "mu"], "unknown parametrization"),
    (["--model", "infwidth.scaling.models:mlp", "--lr", "-1"], "--lr"),
    (["--model", "infwidth.scaling.models:mlp", "--seeds", "0"], "--seeds"),
    (["--model", "infwidth.scaling.models:mlp", "--parametrization", "sp_stable"], "TP4 preset"),
    (["--parametrization", "sp-global", "--depth", "2"], "needs --model"),
    (["--model", "infwidth.scaling.models:mlp", "--widths", "64,128,1e13"], "memory"),
])
def test_cli_model_mode_bad_inputs(args: list[str], msg: str, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Each bad input: exit 2, one error sentence, no traceback, nothing written."""
    code, _, err = run_cli(["coordcheck", *args, "--out-dir", str(tmp_path / "o")], capsys)
    assert code == 2 and err.startswith("error: ") and msg in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_cli_explain_tied_gpt2(capsys: pytest.CaptureFixture[str]) -> None:
    """infwidth explain on Hugging Face GPT-2 (tied lm_head/wte, Conv1D): the readout alias carries the 1/m
    multiplier, the embedding side none; Conv1D weights (stored (in, out)) are hidden with m = 4."""
    pytest.importorskip("transformers")
    code, out, err = run_cli(["explain", "--model", "tests/zoo.py:hf_gpt2", "--base-width", "32", "--width", "128",
                              "--json"], capsys)
    assert code == 0, err
    rows = {r["parameter"]: r for r in json.loads(out)["rows"]}
    head, wte = rows["lm_head.weight"], rows["transformer.wte.weight"]
    assert head["role"] == "readout" and head["tied_to"] == "transformer.wte.weight"
    assert head["multiplier"] == pytest.approx(0.25) and wte["multiplier"] == 1.0 and wte["role"] == "embedding"
    c_fc = rows["transformer.h.0.mlp.c_fc.weight"]
    assert c_fc["role"] == "hidden" and c_fc["width_mult"] == 4 and tuple(c_fc["shape"]) == (128, 512)
    code, out, _ = run_cli(["explain", "--model", "tests/zoo.py:hf_gpt2", "--base-width", "32", "--width", "64"],
                           capsys)
    assert code == 0 and "lm_head.weight" in out and "tied to transformer.wte.weight" in out
    for bad, msg in ((["--width", "0"], "--width"), (["--width", "1e12"], "memory"),
                     (["--model", "tests/zoo.py:nope"], "has no attribute 'nope'")):
        args = ["explain", "--model", "tests/zoo.py:hf_gpt2", "--base-width", "32", "--width", "64", *bad]
        code, _, err = run_cli(args, capsys)
        assert code == 2 and err.startswith("error: ") and msg in err
