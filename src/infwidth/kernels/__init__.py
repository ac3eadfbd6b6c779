"""NNGP / NTK of MLPs and training in the kernel regime (TP4 Sections 3.1-3.2, Eq. (9), Theorem 3.8).

``kernel(spec, param)`` is the kernel reading of an :class:`~infwidth.arch.MLPSpec`; ``kernel_limit(spec, param,
routine)`` the kernel-regime limit of training (mean and spread over the random f_0).

>>> import torch
>>> from infwidth.kernels import ntk
>>> float(ntk(torch.tensor([[1.0, 0.0]]), depth=1, phi="identity")[0, 0])
1.0
"""

from infwidth.kernels.abc import MLPKernel, kernel, kernel_limit, layer_exponents, tangent_kernel
from infwidth.kernels.activations import CLOSED_FORMS, dual, dual_diag, dual_mean
from infwidth.kernels.dynamics import (
    FunctionSpaceModel,
    KernelGDRun,
    gp_posterior,
    kernel_gd,
    kernel_ridge,
    mse_gradient_flow,
)
from infwidth.kernels.mlp import LayerConstants, kernel_recursion, layerwise_kernels, nngp, nt_constants, ntk

__all__ = [
    "CLOSED_FORMS",
    "FunctionSpaceModel",
    "KernelGDRun",
    "LayerConstants",
    "MLPKernel",
    "dual",
    "dual_diag",
    "dual_mean",
    "gp_posterior",
    "kernel",
    "kernel_gd",
    "kernel_limit",
    "kernel_recursion",
    "kernel_ridge",
    "layerwise_kernels",
    "layer_exponents",
    "mse_gradient_flow",
    "nngp",
    "nt_constants",
    "ntk",
    "tangent_kernel",
]
