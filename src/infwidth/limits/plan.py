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
    free_after: dict[int, list[int]]      # position -> vector indices released after it
    branch: set[int]                      # MatMul positions that do not join their family
    members_before: dict[int, int]        # MatMul position -> members of its family before it
    cached: dict[int, tuple[int, int]]    # Moment position -> (MatMul position, index in its Gram row)
    cache_last: dict[int, int]            # MatMul position -> last Moment reading its Gram row
    groups: dict[int, tuple[int, list[int]]]  # first position -> (shared vector, other vectors) of a run
    grouped: set[int]                     # positions computed with an earlier group
    lincombs: dict[int, LinCombPlan]
    n_slots: int
    cost: CostModel
    family_caps: dict[FamilyKey, int]


def _vec_args(ins: Any) -> tuple[Any, ...]:
    if isinstance(ins, MatMul):
        return (ins.arg,)
    if isinstance(ins, (Nonlin, Moment)):
        return ins.vecs
    return ()


def _reach(program: Program) -> np.ndarray:
    """reach[v]: the last position of any instruction that depends on vector v, directly or not."""
    n_v, n_s = program.n_vectors, program.n_scalars
    rv = np.full(n_v, -1, dtype=np.int64)
    rs = np.full(n_s, -1, dtype=np.int64)
    instrs = program.instructions
    for pos in range(len(instrs) - 1, -1, -1):
        ins = instrs[pos]
        if isinstance(ins, InitVectors):
            continue
        if isinstance(ins, InitScalar):
            continue
        if isinstance(ins, Moment):
            r = max(pos, int(rs[ins.out.index]))
        else:
            r = max(pos, int(rv[ins.out.index]))
        for v in _vec_args(ins):
            if rv[v.index] < r:
                rv[v.index] = r
        for s in getattr(ins, "scalars", ()):
            if rs[s.index] < r:
                rs[s.index] = r
    return rv


def _lincomb_plan(fn: LinComb, scalar_ids: list[int], one: int) -> LinCombPlan:
    w = max([len(ss) for _, ss, _ in fn.terms] + [1])
    vt, vc, vs, cc, cs = [], [], [], [], []
    for v, ss, c in fn.terms:
        row = [scalar_ids[j] for j in ss] + [one] * (w - len(ss))
        if v is None:
            cc.append(c)
            cs.append(row)
        else:
            vt.append(v)
            vc.append(c)
            vs.append(row)
    return LinCombPlan(np.array(vt, dtype=np.int64), np.array(vc, dtype=np.float64),
                       np.array(vs, dtype=np.int64).reshape(len(vt), w), np.array(cc, dtype=np.float64),
                       np.array(cs, dtype=np.int64).reshape(len(cc), w))


def make_plan(program: Program, keep_z: bool = False, branches: bool = True) -> Plan:
    """Schedule ``program`` (module docstring). ``keep_z`` keeps every vector; ``branches=False`` adds every
    MatMul to its family (the pre-planning behaviour, same law, different random draws)."""
    instrs = program.instructions
    n = len(instrs)
    reach = _reach(program)
    mat_uses: dict[int, list[int]] = {}
    for pos, ins in enumerate(instrs):
        if isinstance(ins, MatMul):
            mat_uses.setdefault(ins.matrix.index, []).append(pos)
    zero_mats = {m.index for m in program.matrices if m.sigma2 == 0.0}

    # families: members, branches, how long member arguments are held
    branch: set[int] = set()
    members_before: dict[int, int] = {}
    member_args: dict[FamilyKey, list[int]] = {}
    hold_until: dict[int, int] = {}
    arg_at: dict[int, list[int]] = {}        # vector -> MatMul positions taking it as argument
    member_of: dict[int, list[tuple[FamilyKey, int, int]]] = {}  # vector -> (family, member index, position)
    for W, uses in mat_uses.items():
        for i, pos in enumerate(uses):
            ins = instrs[pos]
            assert isinstance(ins, MatMul)
            key = (W, ins.transpose)
            args = member_args.setdefault(key, [])
            members_before[pos] = len(args)
            if W in zero_mats:
                branch.add(pos)
                continue
            arg_at.setdefault(ins.arg.index, []).append(pos)
            nxt = uses[i + 1] if i + 1 < len(uses) else n
            if branches and reach[ins.out.index] < nxt:
                branch.add(pos)
                continue
            member_of.setdefault(ins.arg.index, []).append((key, len(args), pos))
            args.append(ins.arg.index)
            hold_until[ins.arg.index] = max(hold_until.get(ins.arg.index, -1), uses[-1])

    # inner products read from Gram rows, and runs of product Moments sharing a vector
    cached: dict[int, tuple[int, int]] = {}
    cache_last: dict[int, int] = {}
    for pos, ins in enumerate(instrs):
        if isinstance(ins, Moment) and len(ins.vecs) == 2 and not ins.scalars and is_product(ins.fn):
            hit = _gram_lookup(instrs, ins.vecs[0].index, ins.vecs[1].index, pos, arg_at, member_of, members_before)
            if hit is not None:
                cached[pos] = hit
                cache_last[hit[0]] = max(cache_last.get(hit[0], -1), pos)
    groups, grouped = _product_runs(instrs, cached)

    # last readers, lifetimes, slots
    last = np.full(program.n_vectors, -1, dtype=np.int64)
    for pos, ins in enumerate(instrs):
        for v in _vec_args(ins):
            last[v.index] = pos
    for v, until in hold_until.items():
        last[v] = max(last[v], until)
    free_after: dict[int, list[int]] = {}
    slot = np.full(program.n_vectors, -1, dtype=np.int64)
    free: list[int] = []
    n_slots = 0

    def alloc() -> int:
        nonlocal n_slots
        if free:
            return free.pop()
        n_slots += 1
        return n_slots - 1

    scratch: dict[int, int] = {}
    family_slots: dict[int, int] = {}
    lincombs: dict[int, LinCombPlan] = {}
    cost = CostModel(instructions=n, n_scalars=program.n_scalars, n_vectors=program.n_vectors)
    fam_count: dict[FamilyKey, int] = {}
    one = program.n_scalars
    for pos, ins in enumerate(instrs):
        outs: list[int] = []
        if isinstance(ins, InitVectors):
            outs = [v.index for v in ins.outs]
        elif isinstance(ins, (Nonlin, MatMul)):
            outs = [ins.out.index]
        for v in outs:
            slot[v] = alloc()
        if isinstance(ins, InitVectors):
            scratch[pos] = alloc()
            free.append(scratch[pos])
            cost.vector_passes += 2 * len(ins.outs) ** 2
        elif isinstance(ins, MatMul):
            key = (ins.matrix.index, ins.transpose)
            opp = fam_count.get((ins.matrix.index, not ins.transpose), 0)
            k = fam_count.get(key, 0)
            cost.vector_passes += (k + 1) + (k + 1) + 2 * opp   # Gram row, Zhat, ZDot
            if pos in branch:
                cost.branch_matmuls += ins.matrix.index not in zero_mats
                scratch[pos] = alloc()
                free.append(scratch[pos])
            else:
                family_slots[pos] = alloc()  # permanent: the member's base Gaussian
                fam_count[key] = k + 1
        elif isinstance(ins, Nonlin):
            if isinstance(ins.fn, LinComb):
                lincombs[pos] = _lincomb_plan(ins.fn, [s.index for s in ins.scalars], one)
                cost.vector_passes += len(ins.vecs) + 1
            else:
                cost.vector_passes += 2 * (len(ins.vecs) + 1)
        elif isinstance(ins, Moment):
            if isinstance(ins.fn, LinComb) and not ins.vecs:
                lincombs[pos] = _lincomb_plan(ins.fn, [s.index for s in ins.scalars], one)
            if pos in groups:
                cost.vector_passes += len(groups[pos][1]) + 1
            elif pos not in cached and pos not in grouped:
                cost.vector_passes += 2 * len(ins.vecs)
        cost.peak_slots = max(cost.peak_slots, n_slots)
        if keep_z:
            continue
        dead = [v.index for v in _vec_args(ins) if last[v.index] == pos] + [v for v in outs if last[v] < 0]
        if dead:
            dead = list(dict.fromkeys(dead))
            free_after[pos] = dead
            free.extend(int(slot[v]) for v in dead)
    cost.family_members = {f"{program.matrices[W].name}{'^T' if t else ''}": c for (W, t), c in fam_count.items()}
    return Plan(slot, scratch, family_slots, free_after, branch, members_before, cached, cache_last, groups,
                grouped, lincombs, n_slots, cost, dict(fam_count))


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


def _product_runs(instrs: list[Any], cached: dict[int, tuple[int, int]]) -> tuple[dict[int, tuple[int, list[int]]],
                                                                                    set[int]]:
    """Maximal runs of consecutive uncached product Moments that share one vector."""
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
                if c is None or shared not in c:
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
