import itertools
import random

import pandas as pd
import pytest

from proxybench import nb201
from proxybench.benchmarks.nb201 import space


def test_space_sizes():
    assert nb201.OPS == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    assert nb201.NUM_EDGES == 6 and nb201.NUM_ARCHS == 15625
    assert len(set(nb201.all_archs())) == 15625


def test_index_zero_matches_design():
    assert nb201.index_to_arch(0) == (
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    )


def test_official_order_all_rows(shared_data):
    table = pd.read_csv(shared_data / "nb201" / "nb201_accuracies.csv", usecols=["index", "arch"])
    assert len(table) == 15625
    assert list(table["index"]) == list(range(15625))
    for i, arch in zip(table["index"], table["arch"]):
        assert nb201.index_to_arch(i) == arch
        assert nb201.arch_to_index(arch) == i


def test_round_trips():
    rng = random.Random(0)
    for i in rng.sample(range(15625), 300):
        arch = nb201.index_to_arch(i)
        ops = nb201.arch_to_ops(arch)
        assert nb201.ops_to_arch(ops) == arch
        assert nb201.naslib_to_arch(nb201.arch_to_naslib(arch)) == arch
        assert nb201.naslib_to_ops(nb201.ops_to_naslib(ops)) == ops
        assert nb201.parse_arch(i) == nb201.parse_arch(str(i)) == nb201.parse_arch(ops) == arch


def test_naslib_encoding_matches_design_formula():
    # string = |t0~0|+|t1~0|t3~1|+|t2~0|t4~1|t5~2| with ops [skip, none, conv3, conv1, pool]
    names = nb201.NASLIB_OPS
    for t in itertools.islice(itertools.product(range(5), repeat=6), 0, 15625, 97):
        n = [names[v] for v in t]
        expected = f"|{n[0]}~0|+|{n[1]}~0|{n[3]}~1|+|{n[2]}~0|{n[4]}~1|{n[5]}~2|"
        assert nb201.naslib_to_arch(t) == expected


@pytest.mark.parametrize("bad, fragment", [
    ("|nor_conv_3x3~0|+|none~0|none~1|", "node groups"),
    ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv'"),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "has 1 edges"),
    ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "has input '1'"),
    ("|none|+|none~0|none~1|+|none~0|none~1|none~2|", "must be 'op~input'"),
    ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "must look like"),
])
def test_malformed_strings(bad, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace("'", "'")):
        nb201.arch_to_ops(bad)


@pytest.mark.parametrize("bad", [-1, 15625, 10**9])
def test_index_out_of_range(bad):
    with pytest.raises(ValueError, match=f"arch index {bad} out of range; valid: 0..15624"):
        nb201.index_to_arch(bad)


@pytest.mark.parametrize("bad, fragment", [
    ((0, 1, 2), "must have 6 entries"),
    ((0, 1, 2, 3, 4, 5), "entry 5 out of range"),
    ((0, 1, 2, 3, 4, "x"), "not an integer"),
])
def test_bad_tuples(bad, fragment):
    with pytest.raises(ValueError, match=fragment):
        nb201.ops_to_arch(bad)
    with pytest.raises(ValueError, match=fragment):
        nb201.naslib_to_arch(bad)


def test_bad_index_type():
    with pytest.raises(ValueError, match="must be an integer"):
        nb201.index_to_arch(1.5)
    with pytest.raises(ValueError, match="must be a string"):
        nb201.arch_to_ops(3)


def test_canonical_counts():
    # NB201 paper: 6,466 unique topologies (its own rule); our exact rules give 8,765 and 5,260
    assert nb201.num_unique("nb201") == 6466
    assert nb201.num_unique("graph") == 8765
    assert nb201.num_unique("function") == 5260
    with pytest.raises(ValueError, match="unknown canonical rule 'x'; valid: function, graph, nb201"):
        nb201.canonical_key(0, rule="x")


def A(*names):
    return nb201.ops_to_arch(tuple(nb201.OPS.index(n) for n in names))


def test_canonical_function_rule_known_cases():
    key = nb201.canonical_key
    # dead node 2: edges into it do not matter
    assert key(A("nor_conv_3x3", "avg_pool_3x3", "nor_conv_1x1", "skip_connect", "none", "none")) == \
        key(A("nor_conv_3x3", "none", "none", "skip_connect", "none", "none"))
    # skip is the identity: x -> skip -> node1 -> conv -> out  ==  conv(x) directly
    assert key(A("skip_connect", "none", "none", "none", "nor_conv_3x3", "none")) == \
        key(A("none", "none", "none", "nor_conv_3x3", "none", "none"))
    # commutativity of the sum at node 3 (which edge holds which op)
    assert key(A("none", "none", "none", "nor_conv_3x3", "none", "none")) != \
        key(A("none", "none", "none", "nor_conv_1x1", "none", "none"))
    # one conv reached twice through skips (2*conv(x)) differs from two independent convs
    shared = A("nor_conv_3x3", "none", "skip_connect", "none", "skip_connect", "skip_connect")
    independent = A("nor_conv_3x3", "nor_conv_3x3", "none", "none", "skip_connect", "skip_connect")
    assert key(shared) != key(independent)
    # no path to the output -> the zero cell
    assert key(A("nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "none", "none", "none")) == "0"
    assert nb201.is_zero_cell(A(*["none"] * 6))
    # the graph rule keeps skip as an op
    assert nb201.canonical_key(A("skip_connect", "none", "none", "none", "nor_conv_3x3", "none"), "graph") != \
        nb201.canonical_key(A("none", "none", "none", "nor_conv_3x3", "none", "none"), "graph")


def test_equivalent_cells_have_equal_params():
    reps = {}
    for i, arch in enumerate(nb201.all_archs()):
        if i % 7:
            continue
        k = nb201.canonical_key(arch)
        if k == "0":
            continue
        p = nb201.nb201_params(space.ops_to_arch([o if e in space._live_edges(nb201.arch_to_ops(arch)) else 0
                                                  for e, o in enumerate(nb201.arch_to_ops(arch))]))
        assert reps.setdefault(k, p) == p


def test_sampling():
    a = nb201.sample_indices(50, seed=3)
    assert a == nb201.sample_indices(50, seed=3) and a != nb201.sample_indices(50, seed=4)
    assert len(set(a)) == 50
    u = nb201.sample_indices(200, seed=0, unique=True, exclude_zero=True)
    keys = [nb201.canonical_key(i) for i in u]
    assert len(set(keys)) == 200 and "0" not in keys
    assert len(nb201.sample_indices("all", unique=True)) == 5260
    assert nb201.representative_index(u[0]) == u[0]
    with pytest.raises(ValueError, match="positive integer or 'all'"):
        nb201.sample_indices(0)
    with pytest.raises(ValueError, match="cannot sample 5261 architectures: only 5260"):
        nb201.sample_indices(5261, unique=True)
