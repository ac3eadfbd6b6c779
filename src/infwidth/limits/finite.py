"""Finite-width executor: run a Tensor Program at width n with sampled Gaussian matrices.

Every vector is an R^n array, every matrix an n x n array with iid N(0, sigma^2/n) entries
(Setup 7.2), Moments are coordinate averages. By the Master Theorem (TP4 Theorem 7.4) its
scalars converge to the limits computed by the infinite-width executors, so every program can
be checked against its own limit. Initial vectors and matrices can be supplied (to reproduce a
given network exactly). Cost O(n^2) per MatMul.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from infwidth.limits.program import InitScalar, InitVectors, MatMul, Moment, Nonlin, Program


def run_finite(program: Program, n: int, seed: int = 0, init: Mapping[str, np.ndarray] | None = None,
               matrices: Mapping[str, np.ndarray] | None = None, dtype: Any = np.float64) -> dict[str, float]:
    """Run ``program`` at width ``n``; return every scalar's value by name (and each output's).

    ``init[name]`` (length-n arrays) and ``matrices[name]`` (n x n arrays) override sampling.
    """
    rng = np.random.default_rng(seed)
    init = dict(init or {})
    given = dict(matrices or {})
    mats: dict[int, np.ndarray] = {}
    for m in program.matrices:
        if m.name in given:
            mats[m.index] = np.asarray(given[m.name], dtype=dtype)
        else:
            mats[m.index] = (rng.standard_normal((n, n), dtype=np.float64) * np.sqrt(m.sigma2 / n)).astype(dtype)
    X: dict[int, np.ndarray] = {}
    S: dict[int, Any] = {}  # numpy floats: a diverging run gives inf/nan, not OverflowError
    out: dict[str, float] = {}
    for ins in program.instructions:
        if isinstance(ins, InitVectors):
            k = len(ins.outs)
            w, U = np.linalg.eigh(ins.cov)
            A = U * np.sqrt(np.clip(w, 0.0, None))
            g = rng.standard_normal((k, n))
            sample = A @ g
            for i, v in enumerate(ins.outs):
                X[v.index] = np.asarray(init[v.name], dtype=dtype) if v.name in init else sample[i].astype(dtype)
        elif isinstance(ins, InitScalar):
            S[ins.out.index] = np.float64(ins.value)
        elif isinstance(ins, MatMul):
            M = mats[ins.matrix.index]
            X[ins.out.index] = (M.T if ins.transpose else M) @ X[ins.arg.index]
        elif isinstance(ins, Nonlin):
            val = ins.fn(*[X[v.index] for v in ins.vecs], *[S[s.index] for s in ins.scalars])
            X[ins.out.index] = np.broadcast_to(np.asarray(val, dtype=dtype), (n,)).copy()
        elif isinstance(ins, Moment):
            sargs = [S[s.index] for s in ins.scalars]
            if ins.vecs:
                val = np.asarray(ins.fn(*[X[v.index] for v in ins.vecs], *sargs), dtype=np.float64)
                S[ins.out.index] = np.float64(np.mean(np.broadcast_to(val, (n,))))
            else:
                S[ins.out.index] = np.float64(ins.fn(*sargs))
            out[ins.out.name] = float(S[ins.out.index])
    for nm, s in program.outputs.items():
        out[nm] = float(S[s.index])
    return out
