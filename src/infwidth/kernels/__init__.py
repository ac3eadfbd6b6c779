"""NNGP / NTK of MLPs and training in the kernel regime (TP4 Sections 3.1-3.2, Eq. (9), Theorem 3.8).

>>> import torch
>>> from infwidth.kernels import ntk
>>> float(ntk(torch.tensor([[1.0, 0.0]]), depth=1, phi="identity")[0, 0])
1.0
"""

from infwidth.kernels.abc import (
    AbcKernelSpec,
    KernelRegimeLimit,
    abc_kernel_spec,
    abc_kernels,
    kernel_regime_limit,
    layer_exponents,
)
from infwidth.kernels.activations import CLOSED_FORMS, dual, dual_diag
from infwidth.kernels.dynamics import (
    FunctionSpaceModel,
    KernelSGDResult,
    gp_posterior,
    kernel_ridge,
    kernel_sgd,
    mse_gradient_flow,
)
from infwidth.kernels.mlp import LayerConstants, kernel_recursion, nngp, nt_constants, ntk

__all__ = [
    "AbcKernelSpec",
    "CLOSED_FORMS",
    "FunctionSpaceModel",
    "KernelRegimeLimit",
    "KernelSGDResult",
    "LayerConstants",
    "abc_kernel_spec",
    "abc_kernels",
    "dual",
    "dual_diag",
    "gp_posterior",
    "kernel_recursion",
    "kernel_regime_limit",
    "kernel_ridge",
    "kernel_sgd",
    "layer_exponents",
    "mse_gradient_flow",
    "nngp",
    "nt_constants",
    "ntk",
]
