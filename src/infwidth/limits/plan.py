"""What a run of a Tensor Program will need, worked out before it starts (used by :mod:`~infwidth.limits.zrules`).

One pass over the instructions decides

* **storage**: every vector gets a *slot*, released after its last reader, so memory follows the number of
  vectors alive at once, not the number ever created (``n_slots`` is the peak);
* **ZHat families** (Definition 7.3): which MatMuls join the Gaussian family of their ``W`` / ``W^T``.
  A MatMul whose every descendant is computed before the next MatMul on the same matrix is a *branch*:
  no later family member is ever combined with it, so its Zhat is drawn jointly with the family (exact law)
  but not added to it -- evaluation passes on held-out inputs leave the families (and memory) unchanged.
  Arguments of members are held until the matrix's last use (ZHat and ZDot read them);
* **inner products**: ``Moment(product, [y, x])`` where ``x`` is a MatMul argument and ``y`` an earlier
  member's argument is read from the Gram row the interpreter computes for that MatMul anyway (no extra pass
  over the particles); other runs of consecutive product Moments sharing a vector become one pass;
* **cost**: vectors, peak slots, family sizes and the number of vector passes, from which
  :func:`estimate_bytes` gives the memory a backend will allocate (checked before allocating).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from infwidth.limits.program import (
    InitScalar,
    InitVectors,
    LinComb,
    MatMul,
    Moment,
    Nonlin,
    Program,
    is_product,
)

FamilyKey = tuple[int, bool]  # (matrix index, transpose)


@dataclass
class LinCombPlan:
    """A LinComb's terms as index arrays: ``coef_k = const_k * prod_j S[sidx[k, j]]`` (S[-1] = 1)."""

    vec_terms: np.ndarray    # (k,) positions (into the instruction's vecs) of vector terms
    vec_consts: np.ndarray   # (k,)
    vec_sidx: np.ndarray     # (k, w) scalar indices
    const_consts: np.ndarray  # constant terms
    const_sidx: np.ndarray


@dataclass
class CostModel:
    """Counts that determine a run's memory and time (see docs/limits.md, "Cost model").

    ``n_vectors``: Z vectors the program creates; ``peak_slots``: vectors alive at once (the storage);
    ``family_members``: members per ZHat family (its Gram factor is ``members^2 / 2`` scalars per replica);
    ``branch_matmuls``: MatMuls drawn against a family without joining it; ``n_scalars``;
    ``vector_passes``: reads of one Z vector (``particles`` numbers each) the interpreter will make;
    ``instructions``.
    """

    n_vectors: int = 0
    peak_slots: int = 0
    n_scalars: int = 0
    instructions: int = 0
    family_members: dict[str, int] = field(default_factory=dict)
    branch_matmuls: int = 0
    vector_passes: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"n_vectors": self.n_vectors, "peak_slots": self.peak_slots, "n_scalars": self.n_scalars,
                "instructions": self.instructions, "family_members": dict(self.family_members),
                "branch_matmuls": self.branch_matmuls, "vector_passes": self.vector_passes}


@dataclass
class Plan:
    """The interpreter's schedule for one program (module docstring)."""

    slot: np.ndarray                      # vector index -> slot
    scratch: dict[int, int]               # instruction position -> a scratch slot it may use
    family_slots: dict[int, int]          # member MatMul position -> slot of its new base Gaussian
    free_after: dict[int, list[int]]      # step -> vector indices released after it
    branch: set[int]                      # MatMul positions that do not join their family
    members_before: dict[int, int]        # MatMul position -> members of its family before it
    cached: dict[int, tuple[int, int]]    # Moment position -> (MatMul position, index in its Gram row)
    cache_last: dict[int, int]            # MatMul position -> step of the last Moment reading its Gram row
    groups: dict[int, tuple[int, list[int]]]  # first position -> (shared vector, other vectors) of a run
    grouped: set[int]                     # positions computed with an earlier group
    lincombs: dict[int, LinCombPlan]
    n_slots: int
    cost: CostModel
    family_caps: dict[FamilyKey, int]
    steps: list[tuple[int, ...]]          # execution order: positions run together (lock-step) or alone
    step_of: np.ndarray                   # position -> index of its step


def _zero_mat_uses(instrs: Sequence[Any], zero_mats: set[int]) -> set[int]:
    """Positions of MatMuls by a matrix of variance zero."""
    return {p for p, ins in enumerate(instrs) if isinstance(ins, MatMul) and ins.matrix.index in zero_mats}


def _vec_args(ins: Any) -> tuple[Any, ...]:
    t = type(ins)
    if t is MatMul:
        return (ins.arg,)
    if t is Nonlin or t is Moment:
        return ins.vecs
    return ()


def _reach(program: Program) -> tuple[np.ndarray, np.ndarray]:
    """(reach[v], reach_ins[pos]): the last position of any instruction that depends on vector v (on the
    outputs of the instruction at pos), directly or not; an unread value reaches only its own position."""
    rv = np.full(program.n_vectors, -1, dtype=np.int64)
    rs = np.full(program.n_scalars, -1, dtype=np.int64)
    instrs = program.instructions
    r_ins = np.empty(len(instrs), dtype=np.int64)
    for pos in range(len(instrs) - 1, -1, -1):
        ins = instrs[pos]
        if isinstance(ins, InitVectors):
            r_ins[pos] = max([pos] + [int(rv[v.index]) for v in ins.outs])
            continue
        r = max(pos, int(rs[ins.out.index] if isinstance(ins, (Moment, InitScalar)) else rv[ins.out.index]))
        r_ins[pos] = r
        for v in _vec_args(ins):
            if rv[v.index] < r:
                rv[v.index] = r
        for sc in getattr(ins, "scalars", ()):
            if rs[sc.index] < r:
                rs[sc.index] = r
    return rv, r_ins


# -- lock-step execution of isomorphic closed blocks (evaluation passes) ----------------------------------
LOCKSTEP_MAX = 64        # blocks run together (their vectors are alive at once)
BLOCK_MAX = 200_000      # longest closed block looked for


def _closed_blocks(instrs: list[Any], reach_ins: np.ndarray, branch: set[int]) -> list[tuple[int, int]]:
    """Minimal contiguous ranges [a, b] that nothing after b reads, with no InitVectors and only branch
    MatMuls (so running several at once changes no family): evaluation passes, typically.

    ``close[i]``, the smallest b >= i with every reach in [i, b] at most b, is computed right to left by
    jumping over the (already known) closures of later positions.
    """
    n = len(instrs)
    close = np.empty(n, dtype=np.int64)
    for i in range(n - 1, -1, -1):
        b, cur = max(int(reach_ins[i]), i), i + 1
        while cur <= b:
            cb = int(close[cur])
            if cb > b:
                b = cb
            cur = cb + 1
        close[i] = b
    bad = np.fromiter((isinstance(ins, InitVectors) or (isinstance(ins, MatMul) and pos not in branch)
                       for pos, ins in enumerate(instrs)), dtype=np.int64, count=n)
    bad_before = np.concatenate([[0], np.cumsum(bad)])
    out: list[tuple[int, int]] = []
    i = 0
    while i < n:
        b = int(close[i])
        if b - i <= BLOCK_MAX and bad_before[b + 1] == bad_before[i]:
            out.append((i, b))
            i = b + 1
        else:
            i += 1
    return out


def _signature(instrs: list[Any], a: int, b: int) -> tuple[Any, ...]:
    """What must agree for two blocks to run in lock-step: kinds, functions (LinComb: which vector each
    vector term takes, not the constants), matrices, and arguments: a value defined inside the block by its
    offset from the block's first value (indices are allocated in order), one from outside by -1 - index."""
    v0 = s0 = 1 << 62
    for pos in range(a, b + 1):
        ins = instrs[pos]
        t = type(ins)
        if t is Moment or t is InitScalar:
            s0 = min(s0, ins.out.index)
        elif t is not InitVectors:
            v0 = min(v0, ins.out.index)
    sig: list[Any] = []
    for pos in range(a, b + 1):
        ins = instrs[pos]
        t = type(ins)
        if t is InitScalar:
            sig.append(0)
            continue
        if t is MatMul:
            v = ins.arg.index
            sig.append((1, ins.matrix.index, ins.transpose, v - v0 if v >= v0 else -1 - v))
            continue
        fn = ins.fn
        fsig = (fn.n_vecs, tuple(v for v, _, _ in fn.terms if v is not None)) if type(fn) is LinComb else id(fn)
        sig.append((2 if t is Nonlin else 3, fsig,
                    tuple(v.index - v0 if v.index >= v0 else -1 - v.index for v in ins.vecs),
                    tuple(c.index - s0 if c.index >= s0 else -1 - c.index for c in ins.scalars)))
    return tuple(sig)


def _steps(program: Program, blocks: list[tuple[int, int]]) -> list[tuple[int, ...]]:
    """The execution order: adjacent closed blocks with one signature run in lock-step, the rest in order."""
    instrs = program.instructions
    runs: list[list[tuple[int, int]]] = []
    prev_sig: Any = None
    for a, b in blocks:
        sig = _signature(instrs, a, b) if b - a < BLOCK_MAX else None
        if runs and sig is not None and sig == prev_sig and runs[-1][-1][1] + 1 == a \
                and len(runs[-1]) < LOCKSTEP_MAX:
            runs[-1].append((a, b))
        else:
            runs.append([(a, b)])
        prev_sig = sig
    steps: list[tuple[int, ...]] = []
    pos = 0
    for run in runs:
        if len(run) < 2:
            continue
        a0 = run[0][0]
        steps += [(p,) for p in range(pos, a0)]
        for k in range(run[0][1] - a0 + 1):
            steps.append(tuple(a + k for a, _ in run))
        pos = run[-1][1] + 1
    steps += [(p,) for p in range(pos, len(instrs))]
    return steps


def _lincomb_plan(fn: LinComb, scalar_ids: list[int], one: int) -> LinCombPlan:
    terms = fn.terms
    lens = np.fromiter((len(ss) for _, ss, _ in terms), dtype=np.int64, count=len(terms))
    w = max(int(lens.max(initial=0)), 1)
    sidx = np.full((len(terms), w), one, dtype=np.int64)
    if lens.any():
        rows = np.repeat(np.arange(len(terms)), lens)
        cols = np.arange(len(rows)) - np.repeat(np.cumsum(lens) - lens, lens)
        sidx[rows, cols] = [scalar_ids[j] for _, ss, _ in terms for j in ss]
    is_vec = np.fromiter((v is not None for v, _, _ in terms), dtype=bool, count=len(terms))
    consts = np.fromiter((c for _, _, c in terms), dtype=np.float64, count=len(terms))
    vt = np.fromiter((v for v, _, _ in terms if v is not None), dtype=np.int64)
    return LinCombPlan(vt, consts[is_vec], sidx[is_vec], consts[~is_vec], sidx[~is_vec])


def make_plan(program: Program, keep_z: bool = False, branches: bool = True, lockstep: bool = True) -> Plan:
    """Schedule ``program`` (module docstring). ``keep_z`` keeps every vector; ``branches=False`` adds every
    MatMul to its family (the pre-planning behaviour, same law, different random draws); ``lockstep=False``
    runs isomorphic evaluation blocks one after the other."""
    reach, reach_ins = _reach(program)
    fam = _families(program, reach, branches)
    cached, cache_last = _gram_hits(program.instructions, fam)
    blocks = _closed_blocks(program.instructions, reach_ins, fam.branch)
    groups, grouped = _product_runs(program.instructions, cached, {a for a, _ in blocks})
    steps: list[tuple[int, ...]] = (_steps(program, blocks) if lockstep and not keep_z
                                    else [(p,) for p in range(len(program.instructions))])
    plan = _allocate(program, steps, fam, keep_z)
    plan.cached, plan.groups, plan.grouped = cached, groups, grouped
    plan.cache_last = {p: plan.step_of[q] for p, q in cache_last.items()}
    _count(program, plan)
    return plan


@dataclass
class _FamilyInfo:
    branch: set[int]
    members_before: dict[int, int]
    hold_until: dict[int, int]                             # member argument -> last use of its matrix
    arg_at: dict[int, list[int]]                           # vector -> MatMul positions taking it
    member_of: dict[int, list[tuple[FamilyKey, int, int]]]  # vector -> (family, member index, position)
    zero_mats: set[int]


def _families(program: Program, reach: np.ndarray, branches: bool) -> _FamilyInfo:
    """Family members, branches, and how long member arguments are held."""
    instrs, n = program.instructions, len(program.instructions)
    mat_uses: dict[int, list[int]] = {}
    for pos, ins in enumerate(instrs):
        if isinstance(ins, MatMul):
            mat_uses.setdefault(ins.matrix.index, []).append(pos)
    info = _FamilyInfo(set(), {}, {}, {}, {}, {m.index for m in program.matrices if m.sigma2 == 0.0})
    counts: dict[FamilyKey, int] = {}
    for W, uses in mat_uses.items():
        for i, pos in enumerate(uses):
            ins = instrs[pos]
            assert isinstance(ins, MatMul)
            key = (W, ins.transpose)
            k = counts.get(key, 0)
            info.members_before[pos] = k
            if W in info.zero_mats:
                info.branch.add(pos)
                continue
            info.arg_at.setdefault(ins.arg.index, []).append(pos)
            nxt = uses[i + 1] if i + 1 < len(uses) else n
            if branches and reach[ins.out.index] < nxt:
                info.branch.add(pos)
                continue
            info.member_of.setdefault(ins.arg.index, []).append((key, k, pos))
            counts[key] = k + 1
            info.hold_until[ins.arg.index] = max(info.hold_until.get(ins.arg.index, -1), uses[-1])
    return info


def _gram_hits(instrs: list[Any], fam: _FamilyInfo) -> tuple[dict[int, tuple[int, int]], dict[int, int]]:
    """Inner-product Moments read from the Gram row of an earlier MatMul; each row's last reader."""
    cached: dict[int, tuple[int, int]] = {}
    cache_last: dict[int, int] = {}
    for pos, ins in enumerate(instrs):
        if isinstance(ins, Moment) and len(ins.vecs) == 2 and not ins.scalars and is_product(ins.fn):
            hit = _gram_lookup(instrs, ins.vecs[0].index, ins.vecs[1].index, pos, fam.arg_at, fam.member_of,
                               fam.members_before)
            if hit is not None:
                cached[pos] = hit
                cache_last[hit[0]] = max(cache_last.get(hit[0], -1), pos)
    return cached, cache_last


def _allocate(program: Program, steps: list[tuple[int, ...]], fam: _FamilyInfo, keep_z: bool) -> Plan:
    """Slots along the execution order: outputs of a step, then its scratch, then what dies after it."""
    instrs = program.instructions
    step_of = np.empty(len(instrs), dtype=np.int64)
    for i, st in enumerate(steps):
        step_of[list(st)] = i
    last = np.full(program.n_vectors, -1, dtype=np.int64)
    for pos, ins in enumerate(instrs):
        for v in _vec_args(ins):
            last[v.index] = max(last[v.index], step_of[pos])
    for v, until in fam.hold_until.items():
        last[v] = max(last[v], step_of[until])
    slot = np.full(program.n_vectors, -1, dtype=np.int64)
    free: list[int] = []
    n_slots = peak = 0

    def alloc() -> int:
        nonlocal n_slots
        if free:
            return free.pop()
        n_slots += 1
        return n_slots - 1

    scratch: dict[int, int] = {}
    family_slots: dict[int, int] = {}
    free_after: dict[int, list[int]] = {}
    for i, st in enumerate(steps):
        outs = [v.index for p in st for v in _outputs(instrs[p])]
        for v in outs:
            slot[v] = alloc()
        need = [p for p in st if isinstance(instrs[p], InitVectors) or (isinstance(instrs[p], MatMul)
                                                                         and p in fam.branch)]
        if need:
            s = alloc()
            scratch.update({p: s for p in need})
            free.append(s)
        for p in st:
            if isinstance(instrs[p], MatMul) and p not in fam.branch:
                family_slots[p] = alloc()  # permanent: the member's base Gaussian
        peak = max(peak, n_slots)
        if keep_z:
            continue
        dead = [v.index for p in st for v in _vec_args(instrs[p]) if last[v.index] == i]
        dead += [v for v in outs if last[v] < 0]
        if dead:
            dead = list(dict.fromkeys(dead))
            free_after[i] = dead
            free.extend(int(slot[v]) for v in dead)
    counts: dict[FamilyKey, int] = {}
    for p in family_slots:
        mm = instrs[p]
        assert isinstance(mm, MatMul)
        key = (mm.matrix.index, mm.transpose)
        counts[key] = counts.get(key, 0) + 1
    n_branch = len(fam.branch) - len(fam.branch & _zero_mat_uses(instrs, fam.zero_mats))
    cost = CostModel(instructions=len(instrs), n_scalars=program.n_scalars, n_vectors=program.n_vectors,
                     peak_slots=peak, branch_matmuls=n_branch,
                     family_members={f"{program.matrices[W].name}{'^T' if t else ''}": c
                                     for (W, t), c in counts.items()})
    return Plan(slot, scratch, family_slots, free_after, fam.branch, fam.members_before, {}, {}, {}, set(), {},
                n_slots, cost, counts, steps, step_of)


def _outputs(ins: Any) -> tuple[Any, ...]:
    if isinstance(ins, InitVectors):
        return ins.outs
    if isinstance(ins, (Nonlin, MatMul)):
        return (ins.out,)
    return ()


def _count(program: Program, plan: Plan) -> None:
    """LinComb index arrays, and the vector passes of the cost model."""
    one = program.n_scalars
    fam_count: dict[FamilyKey, int] = {}
    cost = plan.cost
    for pos, ins in enumerate(program.instructions):
        if isinstance(ins, InitVectors):
            cost.vector_passes += 2 * len(ins.outs) ** 2
        elif isinstance(ins, MatMul):
            key = (ins.matrix.index, ins.transpose)
            k, opp = fam_count.get(key, 0), fam_count.get((ins.matrix.index, not ins.transpose), 0)
            cost.vector_passes += (k + 1) + (k + 1) + 2 * opp   # Gram row, Zhat, ZDot
            if pos not in plan.branch:
                fam_count[key] = k + 1
        elif isinstance(ins, Nonlin):
            if isinstance(ins.fn, LinComb):
                plan.lincombs[pos] = _lincomb_plan(ins.fn, [s.index for s in ins.scalars], one)
                cost.vector_passes += len(ins.vecs) + 1
            else:
                cost.vector_passes += 2 * (len(ins.vecs) + 1)
        elif isinstance(ins, Moment):
            if isinstance(ins.fn, LinComb) and not ins.vecs:
                plan.lincombs[pos] = _lincomb_plan(ins.fn, [s.index for s in ins.scalars], one)
            if pos in plan.groups:
                cost.vector_passes += len(plan.groups[pos][1]) + 1
            elif pos not in plan.cached and pos not in plan.grouped:
                cost.vector_passes += 2 * len(ins.vecs)


def _gram_lookup(instrs: list[Any], a: int, b: int, pos: int, arg_at: dict[int, list[int]],
                 member_of: dict[int, list[tuple[FamilyKey, int, int]]],
                 members_before: dict[int, int]) -> tuple[int, int] | None:
    """Is <a, b> an entry of the Gram row of a MatMul before ``pos``? Return (MatMul position, index)."""
    for x, y in ((a, b), (b, a)):
        for p in arg_at.get(x, ()):
            if p >= pos:
                continue
            key = (instrs[p].matrix.index, instrs[p].transpose)
            if x == y:
                return p, members_before[p]
            for fam, j, _ in member_of.get(y, ()):
                if fam == key and j < members_before[p]:
                    return p, j
    return None


def _product_runs(instrs: list[Any], cached: dict[int, tuple[int, int]],
                  breaks: set[int]) -> tuple[dict[int, tuple[int, list[int]]], set[int]]:
    """Maximal runs of consecutive uncached product Moments that share one vector (not across ``breaks``)."""
    groups: dict[int, tuple[int, list[int]]] = {}
    grouped: set[int] = set()

    def candidate(p: int) -> tuple[int, int] | None:
        ins = instrs[p]
        if (isinstance(ins, Moment) and len(ins.vecs) == 2 and not ins.scalars and is_product(ins.fn)
                and p not in cached):
            return ins.vecs[0].index, ins.vecs[1].index
        return None

    pos, n = 0, len(instrs)
    while pos < n:
        first = candidate(pos)
        if first is None:
            pos += 1
            continue
        best: tuple[int, list[int]] | None = None
        for shared in dict.fromkeys(first):
            others, q = [], pos
            while q < n:
                c = candidate(q)
                if c is None or shared not in c or (q > pos and q in breaks):
                    break
                others.append(c[1] if c[0] == shared else c[0])
                q += 1
            if best is None or len(others) > len(best[1]):
                best = (shared, others)
        assert best is not None
        if len(best[1]) > 1:
            groups[pos] = best
            grouped.update(range(pos + 1, pos + len(best[1])))
        pos += max(len(best[1]), 1)
    return groups, grouped


def estimate_bytes(plan: Plan, particles: int, replicas: int, itemsize: int) -> int:
    """Memory a particle run of ``plan`` allocates: vector slots, Gram factors, scalars (+5% and 64 MiB)."""
    vectors = plan.n_slots * particles * itemsize
    factors = sum(replicas * c * c * 8 // 2 for c in plan.family_caps.values())
    scalars = (plan.cost.n_scalars + 1) * replicas * 8
    return int(1.05 * (vectors + factors + scalars)) + (64 << 20)
