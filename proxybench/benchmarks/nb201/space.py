"""The NAS-Bench-201 cell search space (Dong & Yang, ICLR 2020).

A cell is a DAG on 4 nodes; node ``i`` (1..3) sums one operation applied to every earlier node, so there are
6 edges, each carrying one of 5 operations: 5**6 = 15,625 cells.

Encodings handled here:

* the official arch string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``;
* the official index (0..15624), the row order of NB201's own tables;
* an *op-index tuple*: 6 indices into :data:`OPS`, edges in string order
  ``(1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2)``;
* NASLib's tuple: op indices into :data:`NASLIB_OPS`, positions are edges
  ``(1,2),(1,3),(1,4),(2,3),(2,4),(3,4)`` in 1-based node numbers.
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Iterable, Sequence

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""The five operations, in NB201's canonical order."""

NASLIB_OPS: tuple[str, ...] = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
"""NASLib's operation order for its NB201 tuple encoding."""

EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
"""The 6 edges as (to_node, from_node), in the order they appear in the arch string."""

NUM_NODES = 4
NUM_EDGES = len(EDGES)
NUM_ARCHS = len(OPS) ** NUM_EDGES  # 15,625

# NASLib tuple position p is edge (from+1, to+1) = (1,2),(1,3),(1,4),(2,3),(2,4),(3,4).
# Map NASLib positions to our string-order edge positions.
_NASLIB_EDGE_TO_STRING_POS: tuple[int, ...] = (0, 1, 3, 2, 4, 5)


def _check_op_tuple(ops: Sequence[int], valid: Sequence[str], what: str) -> tuple[int, ...]:
    try:
        values = tuple(ops)
    except TypeError:
        raise ValueError(f"{what} must be a sequence of {NUM_EDGES} integers, got {ops!r}") from None
    if len(values) != NUM_EDGES:
        raise ValueError(f"{what} must have {NUM_EDGES} entries (one per edge), got {len(values)}: {ops!r}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) and not hasattr(v, "__index__"):
            raise ValueError(f"{what} entry {v!r} is not an integer; valid: 0..{len(valid) - 1} ({valid})")
        v = int(v)
        if not 0 <= v < len(valid):
            raise ValueError(f"{what} entry {v} out of range; valid: 0..{len(valid) - 1} ({', '.join(valid)})")
        out.append(v)
    return tuple(out)


def ops_to_arch(ops: Sequence[int]) -> str:
    """Op-index tuple (indices into :data:`OPS`, string edge order) -> official arch string."""
    ops = _check_op_tuple(ops, OPS, "op-index tuple")
    names = [OPS[o] for o in ops]
    return (
        f"|{names[0]}~0|+|{names[1]}~0|{names[2]}~1|+|{names[3]}~0|{names[4]}~1|{names[5]}~2|"
    )


def arch_to_ops(arch: str) -> tuple[int, ...]:
    """Official arch string -> op-index tuple. Raises ``ValueError`` naming the bad part."""
    if not isinstance(arch, str):
        raise ValueError(f"arch must be a string like {ops_to_arch((3,) * 6)!r}, got {type(arch).__name__}")
    text = arch.strip()
    nodes = text.split("+")
    if len(nodes) != NUM_NODES - 1:
        raise ValueError(
            f"arch string {arch!r} has {len(nodes)} node groups separated by '+'; expected {NUM_NODES - 1}"
        )
    ops: list[int] = []
    for node, group in enumerate(nodes, start=1):
        if not (group.startswith("|") and group.endswith("|") and len(group) > 2):
            raise ValueError(f"node group {group!r} of arch {arch!r} must look like '|op~0|...|'")
        tokens = group[1:-1].split("|")
        if len(tokens) != node:
            raise ValueError(
                f"node {node} of arch {arch!r} has {len(tokens)} edges ({group!r}); expected {node} "
                f"(inputs 0..{node - 1})"
            )
        for expected_input, token in enumerate(tokens):
            name, sep, src = token.partition("~")
            if not sep:
                raise ValueError(f"edge token {token!r} in arch {arch!r} must be 'op~input'")
            if name not in OPS:
                raise ValueError(f"unknown op {name!r} in arch {arch!r}; valid ops: {', '.join(OPS)}")
            if src != str(expected_input):
                raise ValueError(
                    f"edge token {token!r} of node {node} in arch {arch!r} has input {src!r}; "
                    f"expected {expected_input}"
                )
            ops.append(OPS.index(name))
    return tuple(ops)


def naslib_to_ops(naslib: Sequence[int]) -> tuple[int, ...]:
    """NASLib tuple -> op-index tuple."""
    values = _check_op_tuple(naslib, NASLIB_OPS, "NASLib tuple")
    out = [0] * NUM_EDGES
    for p, v in enumerate(values):
        out[_NASLIB_EDGE_TO_STRING_POS[p]] = OPS.index(NASLIB_OPS[v])
    return tuple(out)


def ops_to_naslib(ops: Sequence[int]) -> tuple[int, ...]:
    """Op-index tuple -> NASLib tuple."""
    values = _check_op_tuple(ops, OPS, "op-index tuple")
    return tuple(NASLIB_OPS.index(OPS[values[_NASLIB_EDGE_TO_STRING_POS[p]]]) for p in range(NUM_EDGES))


def naslib_to_arch(naslib: Sequence[int]) -> str:
    return ops_to_arch(naslib_to_ops(naslib))


def arch_to_naslib(arch: str) -> tuple[int, ...]:
    return ops_to_naslib(arch_to_ops(arch))


@functools.lru_cache(maxsize=1)
def _official_order() -> tuple[tuple[str, ...], dict[str, int]]:
    """Every cell in NB201's official index order.

    Enumerate node 1's op combination outermost, then node 2's, then node 3's; within a node the op on
    input 0 varies slowest; then shuffle in place with ``random.Random(88)`` (as NB201 did).
    """
    # the text of each node group, e.g. "|nor_conv_3x3~0|skip_connect~1|"; joined, they spell ops_to_arch(ops)
    groups = [["|" + "|".join(f"{OPS[o]}~{k}" for k, o in enumerate(ops)) + "|"
               for ops in itertools.product(range(len(OPS)), repeat=n)] for n in (1, 2, 3)]
    archs = [f"{a}+{b}+{c}" for a in groups[0] for b in groups[1] for c in groups[2]]
    random.Random(88).shuffle(archs)
    return tuple(archs), {a: i for i, a in enumerate(archs)}


def index_to_arch(index: int) -> str:
    """Official NB201 index -> arch string."""
    if isinstance(index, bool) or not hasattr(index, "__index__"):
        raise ValueError(f"arch index must be an integer in 0..{NUM_ARCHS - 1}, got {index!r}")
    i = int(index)
    if not 0 <= i < NUM_ARCHS:
        raise ValueError(f"arch index {i} out of range; valid: 0..{NUM_ARCHS - 1}")
    return _official_order()[0][i]


def arch_to_index(arch: str) -> int:
    """Arch string -> official NB201 index (the string is validated and normalized first)."""
    return _official_order()[1][ops_to_arch(arch_to_ops(arch))]


def all_archs() -> tuple[str, ...]:
    """All 15,625 arch strings in official index order."""
    return _official_order()[0]


def parse_arch(spec: str | int | Sequence[int]) -> str:
    """Accept an arch string, an official index (int or digit string) or an op-index tuple."""
    if isinstance(spec, str):
        s = spec.strip()
        if s.lstrip("-").isdigit():
            return index_to_arch(int(s))
        return ops_to_arch(arch_to_ops(s))
    if isinstance(spec, bool):
        raise ValueError(f"not an architecture: {spec!r}")
    if hasattr(spec, "__index__"):
        return index_to_arch(int(spec))
    return ops_to_arch(spec)


# --------------------------------------------------------------------------------------------------------
# Canonical forms: equivalent cells map to one key. Three rules, from finest to coarsest:
#
# ``"graph"``    labelled-DAG isomorphism. Edges with ``none`` are dropped; a node whose sum is empty outputs
#                zeros and every edge leaving it is dropped (recursively); edges not on a path from node 0 to
#                node 3 are dropped. What remains is compared as a DAG with ops as vertex labels, up to
#                isomorphism (sum order does not matter). ``skip_connect`` is kept as an operation.
#                15,625 cells -> 8,765 classes.
# ``"function"`` (default) the same, and in addition ``skip_connect`` is the identity: a node's value is the
#                multiset of terms reaching it, a skip edge passes its source's terms on unchanged. Each conv
#                edge is a distinct parameterised instance (two convs never merge, a conv reached twice
#                through skips counts twice), an avg-pool is parameter-free. Keys are exact canonical
#                labellings (minimum over renamings of the conv instances), never hashes, so two cells
#                share a key only if their outputs are the same expression up to renaming of weights.
#                15,625 cells -> 5,260 classes. Cells in one class have the same number of parameters on
#                live edges (dead edges still carry weights that never reach the output).
# ``"nb201"``    the rule behind the NB201 paper's count of 6,466 unique topologies (xautodl's
#                ``CellStructure.to_unique_str(consider_zero=True)``): skip contracted, zero terms kept in
#                the sum as a marker, terms joined as sorted strings. Provided to reproduce that number; it
#                can put cells with different parameter counts together and split equivalent ones, because
#                joined strings are not a canonical form.
# In every rule a convolution of an all-zero input counts as zero, as NB201's rule does (after BN it is
# the constant beta, which is 0 at initialization).
# --------------------------------------------------------------------------------------------------------

CANONICAL_RULES: tuple[str, ...] = ("function", "graph", "nb201")
_ZERO = "0"
_CONVS = ("nor_conv_1x1", "nor_conv_3x3")


def _live_edges(ops: Sequence[int]) -> list[int]:
    """Edge positions with a non-none op on some path from node 0 to node 3."""
    reach = {0}
    for pos, (dst, src) in enumerate(EDGES):
        if OPS[ops[pos]] != "none" and src in reach:
            reach.add(dst)
    coreach = {3}
    for pos in reversed(range(NUM_EDGES)):
        dst, src = EDGES[pos]
        if OPS[ops[pos]] != "none" and dst in coreach:
            coreach.add(src)
    return [pos for pos, (dst, src) in enumerate(EDGES)
            if OPS[ops[pos]] != "none" and src in reach and dst in coreach]


def _graph_key(ops: tuple[int, ...]) -> str:
    live = _live_edges(ops)
    if not live:
        return _ZERO
    # vertex = live edge labelled by its op; arc a->b iff a's target node is b's source node
    verts = [(EDGES[pos][0], EDGES[pos][1], OPS[ops[pos]]) for pos in live]
    n = len(verts)

    def vclass(i):
        return (verts[i][2], verts[i][1] == 0, verts[i][0] == 3)

    order = sorted(range(n), key=vclass)
    groups = [list(g) for _, g in itertools.groupby(order, key=vclass)]
    best = None
    for perm_groups in itertools.product(*[itertools.permutations(g) for g in groups]):
        perm = [i for g in perm_groups for i in g]
        pos_of = {v: k for k, v in enumerate(perm)}
        arcs = tuple(sorted((pos_of[a], pos_of[b]) for a in range(n) for b in range(n)
                            if verts[a][0] == verts[b][1]))
        if best is None or arcs < best:
            best = arcs
    head = ";".join(f"{op}{'<' if i else ''}{'>' if o else ''}" for op, i, o in map(vclass, order))
    return head + "|" + ",".join(f"{a}-{b}" for a, b in best)


def _function_key(ops: tuple[int, ...]) -> str:
    conv_edges = [p for p in range(NUM_EDGES) if OPS[ops[p]] in _CONVS]

    def build(name: dict[int, int]) -> str:
        values: dict[int, tuple] = {0: (("x", 1),)}
        for node in (1, 2, 3):
            terms: dict = {}
            for pos, (dst, src) in enumerate(EDGES):
                if dst != node or not values[src]:
                    continue
                op = OPS[ops[pos]]
                if op == "none":
                    continue
                if op == "skip_connect":
                    for t, m in values[src]:
                        terms[t] = terms.get(t, 0) + m
                    continue
                t = ("pool", values[src]) if op == "avg_pool_3x3" else (op, name[pos], values[src])
                terms[t] = terms.get(t, 0) + 1
            values[node] = tuple(sorted(terms.items(), key=repr))
        return repr(values[3]) if values[3] else _ZERO

    return min(build(dict(zip(conv_edges, perm))) for perm in itertools.permutations(range(len(conv_edges))))


def _nb201_key(ops: tuple[int, ...]) -> str:
    nodes = {0: "0"}
    for node in (1, 2, 3):
        terms = []
        for pos, (dst, src) in enumerate(EDGES):
            if dst != node:
                continue
            op = OPS[ops[pos]]
            if op == "none" or nodes[src] == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(nodes[src])
            else:
                terms.append(f"({nodes[src]})@{op}")
        nodes[node] = "+".join(sorted(terms))
    return nodes[3]


_RULES = {"graph": _graph_key, "function": _function_key, "nb201": _nb201_key}


def _check_rule(rule: str) -> str:
    if rule not in _RULES:
        raise ValueError(f"unknown canonical rule {rule!r}; valid: {', '.join(CANONICAL_RULES)}")
    return rule


@functools.cache
def _key_of_ops(ops: tuple[int, ...], rule: str) -> str:
    return _RULES[rule](ops)


def canonical_key(arch: str | int | Sequence[int], rule: str = "function") -> str:
    """Key equal for exactly the cells that are equivalent under ``rule`` (see the rules above).

    A cell whose output is always zero has the key ``"0"`` under the ``graph`` and ``function`` rules.
    """
    _check_rule(rule)
    return _key_of_ops(arch_to_ops(parse_arch(arch)), rule)


def is_zero_cell(arch: str | int | Sequence[int]) -> bool:
    """True when the cell's output is identically zero (no live path from node 0 to node 3)."""
    return not _live_edges(arch_to_ops(parse_arch(arch)))


@functools.cache
def _classes(rule: str) -> tuple[dict[str, int], tuple[int, ...]]:
    """key -> representative (smallest official index), and each index's representative."""
    rep: dict[str, int] = {}
    of = []
    for i, a in enumerate(all_archs()):
        k = _key_of_ops(arch_to_ops(a), rule)
        of.append(rep.setdefault(k, i))
    return rep, tuple(of)


def num_unique(rule: str = "function") -> int:
    """Number of equivalence classes among the 15,625 cells under ``rule``."""
    return len(_classes(_check_rule(rule))[0])


def representative_index(arch: str | int | Sequence[int], rule: str = "function") -> int:
    """Smallest official index among the cells equivalent to ``arch``."""
    return _classes(_check_rule(rule))[1][arch_to_index(parse_arch(arch))]


def unique_indices(rule: str = "function") -> list[int]:
    """One representative (the smallest official index) per equivalence class, sorted."""
    return sorted(_classes(_check_rule(rule))[0].values())


def sample_indices(n: int | str, seed: int = 0, unique: bool = False, exclude_zero: bool = False,
                   rule: str = "function") -> list[int]:
    """Sample ``n`` distinct official indices with ``seed`` (``n='all'``: every one, in index order).

    ``unique=True`` draws from one representative per equivalence class under ``rule``, so no two sampled
    cells are equivalent; ``exclude_zero=True`` leaves out cells whose output is always zero.
    """
    pool = unique_indices(rule) if unique else list(range(NUM_ARCHS))
    if exclude_zero:
        pool = [i for i in pool if not is_zero_cell(i)]
    if isinstance(n, str):
        if n != "all":
            raise ValueError(f"n must be a positive integer or 'all', got {n!r}")
        return pool
    if isinstance(n, bool) or not hasattr(n, "__index__") or int(n) < 1:
        raise ValueError(f"n must be a positive integer or 'all', got {n!r}")
    n = int(n)
    if n > len(pool):
        raise ValueError(f"cannot sample {n} architectures: only {len(pool)} available "
                         f"(unique={unique}, exclude_zero={exclude_zero})")
    return random.Random(seed).sample(pool, n)


def iter_archs(indices: Iterable[int]) -> Iterable[tuple[int, str]]:
    for i in indices:
        yield int(i), index_to_arch(i)
