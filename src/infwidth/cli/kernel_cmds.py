"""CLI: ``infwidth kernel`` -- NNGP / NTK matrices of MLPs (infwidth.kernels)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from infwidth.cli import cli
from infwidth.cli import options as o
from infwidth.cli._common import force_option, info, json_option, print_json, print_table
from infwidth.cli.estimates import MAX_DEPTH_ALGEBRA
from infwidth.cli.parametrization_cmds import PRESET
from infwidth.io import atomic_open, load_array


def _check_phi(name: str) -> None:
    from infwidth.arch import activation

    activation(name)


PHI = o.Spec(_check_phi, "activation", "relu")


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
@click.option("--depth", type=o.Int(min=1, max=MAX_DEPTH_ALGEBRA, example="1"), default=1, show_default=True,
              help=f"Number of hidden layers L (1 <= L <= {MAX_DEPTH_ALGEBRA}).")
@click.option("--phi", type=PHI, default="relu", show_default=True, help="relu|identity|erf|square|tanh|gelu.")
@click.option("--inputs", "inputs", required=True, type=o.InputFile(("npy",)), help="(N, d) inputs, .npy.")
@click.option("--inputs2", type=o.InputFile(("npy",)), help="Optional (M, d) second inputs: K is (N, M).")
@click.option("--weight-std", type=o.NONNEG_FLOATS, default="1", show_default=True,
              help="W_std, one or one per layer (neural-tangents convention: Var W^1 = W_std^2 / d).")
@click.option("--bias-std", type=o.NONNEG_FLOATS, default="0", show_default=True, help="b_std, one or one per layer.")
@click.option("--parametrization", "param_name", type=PRESET, help="Instead: the limit kernel of AbcMLP in this "
              "parametrization (ntk: the Eq. (9) kernel, nngp: covariance of lim f_0); only kernel-regime ones "
              "(ntp, sp_stable) have one.")
@click.option("--out", type=o.OutputFile(".npy"), help="Write the kernel matrix here (.npy).")
@force_option
@json_option
def kernel_cmd(kind: str, depth: int, phi: str, inputs: Path, inputs2: Path | None, weight_std: tuple[float, ...],
               bias_std: tuple[float, ...], param_name: str | None, out: Path | None, force: bool,
               as_json: bool) -> None:
    """NNGP or NTK matrix of an L-hidden-layer MLP on the rows of a .npy file (float64).

    Example: infwidth kernel --kind ntk --depth 3 --phi relu --inputs X.npy --out K.npy --json
    """
    from infwidth.arch import activation
    from infwidth.cli.estimates import kernel
    from infwidth.resources import check

    x1 = load_array(inputs)
    x2 = None if inputs2 is None else load_array(inputs2)
    m = x1.shape[0] if x2 is None else x2.shape[0]
    check(kernel(x1.shape[0], m, depth, activation(phi).dual is None or param_name is not None), force,
          "use fewer input rows (compute the kernel in blocks of rows with --inputs2)")
    t0 = time.perf_counter()
    K = compute_kernel(kind, depth, phi, x1, x2, list(weight_std), list(bias_std), param_name)
    seconds = time.perf_counter() - t0
    if out is not None:
        with atomic_open(out, "wb") as f:
            np.save(f, K)
        info(f"wrote {out}")
    summary: dict[str, Any] = {
        "kind": kind, "depth": depth, "phi": phi, "parametrization": param_name, "shape": list(K.shape),
        "mean_diag": float(np.mean(np.diag(K))) if x2 is None else None, "max_abs": float(np.abs(K).max()),
        "min_eigenvalue": float(np.linalg.eigvalsh(K).min()) if x2 is None and K.shape[0] <= 4000 else None,
        "seconds": seconds, "out": None if out is None else str(out),
    }
    if as_json:
        print_json(summary)
        return
    rows = [[k, "" if v is None else (f"{v:.6g}" if isinstance(v, float) else str(v))] for k, v in summary.items()]
    print_table(f"{kind.upper()} of a depth-{depth} {phi} MLP", ["quantity", "value"], rows)
