"""Lock-step execution of isomorphic closed blocks (evaluation passes on held-out inputs).

:mod:`infwidth.limits.plan` finds adjacent blocks of instructions that nothing later reads, whose MatMuls
are all evaluation branches and which have one signature (the same instructions on different inputs).
Running instruction k of every block together turns the passes over shared vectors (the training history,
the families' ``g`` and arguments) into matrix products: each shared vector is read once per step instead
of once per block. The rules are the same as in :class:`~infwidth.limits.zrules.Run`; for blocks with one
MatMul the random draws are too (a block's fresh Gaussian is drawn in block order).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from infwidth.limits.families import Family, new_direction, tri
from infwidth.limits.program import MatMul, Moment, Nonlin


def run_lockstep(run: Any, step: tuple[int, ...]) -> None:
    """Execute the instructions at positions ``step`` (one per block, same signature) on ``run``."""
    instrs = run.p.instructions
    first = instrs[step[0]]
    if isinstance(first, MatMul) and first.matrix.sigma2 > 0.0:
        _matmuls(run, step)
    elif isinstance(first, Nonlin) and step[0] in run.plan.lincombs:
        _lincombs(run, step)
    elif isinstance(first, Moment) and step[0] in run.plan.groups and _shared_others(run, step):
        _inner_products(run, step)
    else:
        for p in step:
            run.one(p, instrs[p])


def _lincombs(run: Any, step: tuple[int, ...]) -> None:
    """out_g = sum_k c_gk Z_k: vectors shared by every block in one matrix product, the others per block."""
    instrs, st = run.p.instructions, run.st
    vt = run.plan.lincombs[step[0]].vec_terms
    idx = np.array([[instrs[p].vecs[j].index for j in vt] for p in step], dtype=np.int64).reshape(len(step), len(vt))
    shared = np.all(idx == idx[0], axis=0)
    parts = [run.lincomb_coefs(p) for p in step]
    coefs = np.stack([c for c, _ in parts])                      # (G, B, k)
    outs = [run.slot(instrs[p].out) for p in step]
    st.combine_many(np.ascontiguousarray(coefs[:, :, shared]), [int(run.plan.slot[v]) for v in idx[0][shared]], outs)
    local = ~shared
    for g, (_, const) in enumerate(parts):
        if local.any() or const is not None:
            st.combine(np.ascontiguousarray(coefs[g][:, local]), [int(run.plan.slot[v]) for v in idx[g][local]],
                       outs[g], add=True, const=const)


def _shared_others(run: Any, step: tuple[int, ...]) -> bool:
    first = run.plan.groups[step[0]][1]
    return all(run.plan.groups.get(p, (None, None))[1] == first for p in step[1:])


def _inner_products(run: Any, step: tuple[int, ...]) -> None:
    """Runs of inner products <y_i, x_g> with the same y_i in every block: one matrix product."""
    plan, instrs = run.plan, run.p.instructions
    others = plan.groups[step[0]][1]
    vals = run.st.dots_many([int(plan.slot[o]) for o in others], [int(plan.slot[plan.groups[p][0]]) for p in step])
    for g, p in enumerate(step):
        for i in range(len(others)):
            run.S[instrs[p + i].out.index] = vals[g, :, i]


def _matmuls(run: Any, step: tuple[int, ...]) -> None:
    """ZHat (drawn against the family, not added) + ZDot for one branch MatMul per block."""
    instrs, st, plan = run.p.instructions, run.st, run.plan
    first = instrs[step[0]]
    W = first.matrix
    sigma = float(np.sqrt(W.sigma2))
    key = (W.index, first.transpose)
    fam = run.fams.get(key)
    if fam is None:
        fam = run.fams[key] = Family(run.B, plan.family_caps.get(key, 0))
    xs = [run.slot(instrs[p].arg) for p in step]
    outs = [run.slot(instrs[p].out) for p in step]
    u = st.dots_many(fam.ys, xs)                                   # (G, B, K)
    r = len(fam.basis)
    coefs = np.zeros((len(step), run.B, r))
    nrm2s = []
    for g, (p, x) in enumerate(zip(step, xs)):
        row = np.concatenate([u[g], st.dots([x], x)], axis=1)     # the Gram row, then |x|^2
        if p in plan.cache_last:
            run.gram[p] = row
        c = fam.coords(row)
        coefs[g] = c
        nrm2s.append((row[:, -1] - (c * c).sum(axis=1), row[:, -1]))
    st.combine_many(sigma * coefs, fam.G, outs)                    # ZHat on the family's directions
    for g, (nrm2, xx) in enumerate(nrm2s):                         # ... plus each block's own new direction
        if new_direction(nrm2, xx):
            st.gaussian(plan.scratch[step[g]])
            st.combine(sigma * np.sqrt(np.maximum(nrm2, 0.0))[:, None], [plan.scratch[step[g]]], outs[g], add=True)
    opp = run.fams.get((W.index, not first.transpose))
    if opp is not None and opp.basis:                              # ZDot, Eq. (31)
        a = st.dots_many(opp.G, xs)
        theta = np.stack([sigma * tri(opp.P, len(opp.basis), np.ascontiguousarray(a[g]), True)
                          for g in range(len(step))])
        st.combine_many(theta, [opp.ys[i] for i in opp.basis], outs, add=True)
        if run.record:
            for g, p in enumerate(step):
                run.zdot[instrs[p].out.name] = [(opp.names[i], float(theta[g, :, j].mean()))
                                                for j, i in enumerate(opp.basis)]
