"""CLI: ``infwidth kernel`` -- NNGP / NTK matrices of MLPs (infwidth.kernels)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from infwidth.cli import cli
from infwidth.cli._common import info, json_option, load_array, print_json, print_table
from infwidth.errors import InfwidthError
from infwidth.io import atomic_open


def _load(path: str, option: str = "--inputs") -> np.ndarray:
    arr = load_array(path, option)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        arr = arr.reshape(arr.shape[0], -1)
    return arr.astype(np.float64)


def _floats(text: str, name: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InfwidthError(f'{name} must be numbers separated by commas like "1.4,1,1", got {text!r}.') from None


def compute_kernel(kind: str, depth: int, phi: str, x1: np.ndarray, x2: np.ndarray | None,
                   weight_std: list[float], bias_std: list[float], param_name: str | None) -> np.ndarray:
    """The requested kernel matrix (float64 numpy): neural-tangents convention, or the limit of AbcMLP in a preset
    (InfwidthError for a preset that has no kernel limit, e.g. mup, which learns features)."""
    from infwidth.kernels import kernel, nngp, ntk

    if param_name is not None:
        from infwidth.arch import MLPSpec
        from infwidth.parametrization import preset

        limit = kernel(MLPSpec(depth, d_in=x1.shape[1], phi=phi), preset(param_name, depth))
        cov, k = limit(x1, x2)
        return (k if kind == "ntk" else cov).numpy()
    ws = weight_std[0] if len(weight_std) == 1 else weight_std
    bs = bias_std[0] if len(bias_std) == 1 else bias_std
    fn = ntk if kind == "ntk" else nngp
    return fn(x1, x2, depth, phi, ws, bs).numpy()


@cli.command("kernel")
@click.option("--kind", type=click.Choice(["ntk", "nngp"]), required=True, help="Tangent kernel or NNGP covariance.")
@click.option("--depth", type=int, default=1, show_default=True, help="Number of hidden layers L >= 1.")
@click.option("--phi", default="relu", show_default=True, help="relu|identity|erf|square|tanh|gelu.")
@click.option("--inputs", "inputs", required=True, type=click.Path(dir_okay=False), help="(N, d) inputs, .npy.")
@click.option("--inputs2", type=click.Path(dir_okay=False), help="Optional (M, d) second inputs: K is (N, M).")
@click.option("--weight-std", default="1", show_default=True,
              help="W_std, one or one per layer (neural-tangents convention: Var W^1 = W_std^2 / d).")
@click.option("--bias-std", default="0", show_default=True, help="b_std, one or one per layer.")
@click.option("--parametrization", "param_name", help="Instead: the limit kernel of AbcMLP in this parametrization "
              "(ntk: the Eq. (9) kernel, nngp: covariance of lim f_0); only kernel-regime ones (ntp, sp_stable) "
              "have one.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the kernel matrix here (.npy).")
@json_option
def kernel_cmd(kind: str, depth: int, phi: str, inputs: str, inputs2: str | None, weight_std: str, bias_std: str,
               param_name: str | None, out: str | None, as_json: bool) -> None:
    """NNGP or NTK matrix of an L-hidden-layer MLP on the rows of a .npy file (float64).

    Example: infwidth kernel --kind ntk --depth 3 --phi relu --inputs X.npy --out K.npy --json
    """
    if depth < 1:
        raise InfwidthError(f"--depth must be >= 1, got {depth}.")
    x1 = _load(inputs)
    x2 = None if inputs2 is None else _load(inputs2)
    t0 = time.perf_counter()
    K = compute_kernel(kind, depth, phi, x1, x2, _floats(weight_std, "--weight-std"), _floats(bias_std, "--bias-std"),
                       param_name)
    seconds = time.perf_counter() - t0
    if out is not None:
        with atomic_open(Path(out), "wb") as f:
            np.save(f, K)
        info(f"wrote {out}")
    summary: dict[str, Any] = {
        "kind": kind, "depth": depth, "phi": phi, "parametrization": param_name, "shape": list(K.shape),
        "mean_diag": float(np.mean(np.diag(K))) if x2 is None else None, "max_abs": float(np.abs(K).max()),
        "min_eigenvalue": float(np.linalg.eigvalsh(K).min()) if x2 is None and K.shape[0] <= 4000 else None,
        "seconds": seconds, "out": out,
    }
    if as_json:
        print_json(summary)
        return
    rows = [[k, "" if v is None else (f"{v:.6g}" if isinstance(v, float) else str(v))] for k, v in summary.items()]
    print_table(f"{kind.upper()} of a depth-{depth} {phi} MLP", ["quantity", "value"], rows)
