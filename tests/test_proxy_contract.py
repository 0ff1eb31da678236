"""The proxy contract: declared options, groups, gradients, BN mode and batches are enforced; the pass registry
needs no import order; proxybench.testing catches proxies that lie about what they use."""

from __future__ import annotations

import ast
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from proxybench import testing
from proxybench.cli import main
from proxybench.distill.losses import DISTILLERS, distill_loss
from proxybench.engine import config
from proxybench.proxies import (
    Option,
    OptionError,
    ProxyError,
    at_least,
    check_options,
    get_spec,
    list_proxies,
    make_context,
    proxy_groups,
    register_proxy,
    score,
    score_many,
    unregister_proxy,
)

ROOT = Path(__file__).resolve().parents[1]
# chosen by measured value per second (perf/default_run.py): zico, snip and grad_norm left, linear_regions joined
TODAY_DEFAULT = {"diswot", "diswot_relation", "diswot_semantic", "kd", "rkd", "pkt", "synflow", "linear_regions",
                 "nwot", "jacov", "meco", "params", "flops"}
TODAY_STANDARD = {"flops", "params", "synflow", "grasp", "fisher", "grad_norm", "l2_norm", "plain", "nwot", "epe_nas",
                  "jacov", "snip"}


def batch(n: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 16, 16, generator=g), torch.randint(0, 10, (n,), generator=g)


@pytest.fixture
def temporary():
    """Register throwaway proxies (``temporary(name, **decl)(fn)``); they are unregistered afterwards."""
    names = []

    def register(name, **decl):
        names.append(name)
        return register_proxy(name, paper="a test", **decl)

    yield register
    for n in names:
        unregister_proxy(n)


# ---- options -------------------------------------------------------------------------------------------------------
def test_unknown_option_of_score_is_refused_naming_the_valid_ones():
    x, y = batch()
    with pytest.raises(ValueError) as info:
        score("kd", testing.make_network(), x, y, teacher=testing._teacher(), temprature=1.0)
    msg = str(info.value)
    assert "'temprature'" in msg and "'kd'" in msg
    assert "temperature, teacher_bn, teacher_seed" in msg and "did you mean 'temperature'" in msg
    with pytest.raises(OptionError, match="'temprature'.*takes no options"):
        score("snip", testing.make_network(), x, y, temprature=1.0)


def test_ill_typed_options_are_refused_and_strings_are_parsed():
    x, y = batch()
    net, teacher = testing.make_network(), testing._teacher()
    with pytest.raises(ValueError, match="option 'temperature' must be a number > 0, got 'hot'"):
        score("kd", net, x, y, teacher=teacher, temperature="hot")
    with pytest.raises(ValueError, match="option 'temperature' must be a number > 0, got 0"):
        score("kd", net, x, y, teacher=teacher, temperature=0)
    with pytest.raises(ValueError, match=r"option 'swap_batch_size' must be an integer >= 1, got 2\.0"):
        score("swap", net, x, swap_batch_size=2.0)
    with pytest.raises(ValueError, match="'linear_regions_probe' must be one of 'thin', 'full'"):
        score("linear_regions", net, x, linear_regions_probe="thick")
    as_text = score("kd", net, x, y, teacher=teacher, temperature="2")
    assert as_text == score("kd", net, x, y, teacher=teacher, temperature=2.0)
    assert as_text != score("kd", net, x, y, teacher=teacher)
    assert score("meco", net, x, meco_random_input="true") == score("meco", net, x, meco_random_input=True)


def test_option_parsing():
    o = Option("n", int, 3, "a count", check=at_least(1))
    assert o.parse("4", "proxy 'p'") == 4 and o.parse(5, "proxy 'p'") == 5
    for bad in (0, True, 2.5, "x", None):
        with pytest.raises(OptionError, match="proxy 'p': option 'n' must be an integer >= 1"):
            o.parse(bad, "proxy 'p'")
    flag = Option("f", bool, False)
    assert flag.parse("yes", "x") is True and flag.parse(0, "x") is False
    assert Option("g", float, None).parse(None, "x") is None
    assert Option("g", float, 1.0).parse(2, "x") == 2.0
    with pytest.raises(ValueError, match="bad option name 'seed'"):
        Option("seed", int, 0)
    with pytest.raises(ValueError, match="type must be one of"):
        Option("v", list, [])


def test_run_level_check_and_score_many_leave_other_proxies_options_alone():
    typed = check_options(["kd", "snip"], {"temperature": "3"})
    assert typed["kd"]["temperature"] == 3.0 and typed["snip"] == {}
    with pytest.raises(OptionError, match="'swap_init' is an option of swap, not scored here"):
        check_options(["kd", "snip"], {"swap_init": "keep"})
    x, y = batch()
    # a context made for a larger run may carry options the proxies scored here do not declare
    (res,) = score_many(["snip"], make_context(testing.make_network(), x, y, temperature=2.0))
    assert res.status == "ok"


def test_a_proxy_reads_only_declared_options(temporary):
    @temporary("reads_undeclared", options=(Option("declared", int, 1),))
    def reads_undeclared(ctx):
        "Reads an option it does not declare."
        return ctx.option("declared") + ctx.option("undeclared")

    x, _ = batch()
    with pytest.raises(OptionError, match="proxy 'reads_undeclared' reads option 'undeclared', which it does not "
                                          "declare; declared: declared"):
        score("reads_undeclared", testing.make_network(), x)


def test_cli_refuses_unknown_and_ill_typed_options(tmp_path, capsys):
    assert main(["eval", "--option", "temprature=2", "--quiet", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "unknown proxy option 'temprature'" in err and "did you mean 'temperature'" in err
    assert main(["eval", "--proxies", "kd,snip", "--option", "temperature=hot", "--quiet",
                 "--out", str(tmp_path / "b")]) == 2
    assert "option 'temperature' must be a number > 0, got 'hot'" in capsys.readouterr().err
    assert main(["search", "--proxy", "synflow", "--option", "temperature=2", "--out", "none", "--quiet"]) == 2
    assert "unknown option 'temperature' for proxy 'synflow'" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_list_proxies_verbose_shows_options(capsys):
    assert main(["list", "proxies", "kd", "standard", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "temperature (float > 0, default 4.0): softmax temperature T" in out
    assert "teacher_bn (auto|train|eval, default 'auto')" in out
    assert "synflow  (direction +1; needs no data+gradients; bn identity; groups standard, default)" in out
    assert "grasp" in out and "swap" not in out
    assert main(["list", "proxies", "no_such"]) == 2


# ---- groups --------------------------------------------------------------------------------------------------------
def test_groups_are_read_from_the_declarations_with_todays_members():
    groups = proxy_groups()
    assert set(groups["default"]) == TODAY_DEFAULT and set(groups["standard"]) == TODAY_STANDARD
    assert set(config.DEFAULT_PROXIES) == TODAY_DEFAULT and set(config.STANDARD_PROXIES) == TODAY_STANDARD
    assert config.PROXY_GROUPS == ("all", "default", "standard", "teacher")
    assert groups["all"] == list_proxies() and groups["teacher"] == list_proxies(teacher=True)


def test_a_proxy_joins_a_group_from_its_own_file(temporary):
    @temporary("joins_standard", bn="any", data_free=True, groups=("standard",))
    def joins_standard(ctx):
        "Zero."
        return 0.0

    assert "joins_standard" in proxy_groups()["standard"]
    names, notes = config.resolve_proxies("standard", has_teacher=False)
    assert "joins_standard" in names and not notes
    with pytest.raises(ValueError, match="joins unknown group 'standrad'; groups a proxy can join: default, standard"):
        register_proxy("bad_group", groups=("standrad",))


def test_unknown_proxy_or_group_names_are_errors_not_skipped():
    with pytest.raises(ValueError, match="unknown proxy 'standrad'; valid proxies: .*; groups: all, default, "
                                         "standard, teacher"):
        config.resolve_proxies("snip,standrad", has_teacher=True)
    with pytest.raises(ValueError, match="is the name of a proxy group"):
        register_proxy("default")


# ---- gradients, BN mode, batches -----------------------------------------------------------------------------------
def test_gradients_false_runs_without_autograd_and_refuses_backward_passes(temporary):
    @temporary("sneaky_backward")
    def sneaky_backward(ctx):
        "Runs a backward pass it does not declare."
        out = ctx.fresh_model()(ctx.inputs).sum()
        out.backward()
        return 0.0

    @temporary("sneaky_pass", labels=True)
    def sneaky_pass(ctx):
        "Asks for a backward pass it does not declare."
        return ctx.pass_("ce_backward").loss

    x, y = batch()
    with pytest.raises(ProxyError, match="'sneaky_backward' declares gradients=False but runs a backward pass"):
        score("sneaky_backward", testing.make_network(), x)
    with pytest.raises(ProxyError, match="'sneaky_pass' declares gradients=False but asks for 'ce_backward'"):
        score("sneaky_pass", testing.make_network(), x, y)
    # a proxy that declares gradients gets them even when the caller has autograd off
    with torch.no_grad():
        inside = score("snip", testing.make_network(), x, y)
    assert inside == score("snip", testing.make_network(), x, y)


@pytest.mark.parametrize("bn", ["train", "eval", "identity", "any"])
def test_fresh_model_is_in_the_declared_bn_mode(temporary, bn):
    seen = {}

    @temporary(f"bn_{bn}", bn=bn)
    def probe(ctx):
        "Records the BN layers of its network copy."
        model = ctx.fresh_model()
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        seen["training"] = {m.training for m in bns}
        x = torch.randn(2, bns[0].num_features, 3, 3)
        seen["identity"] = all(m(x) is x for m in bns)
        return 0.0

    net = testing.make_network()
    net.eval()
    net.stages[1][0].train()
    score(f"bn_{bn}", net, batch()[0])
    expected = {"train": {True}, "eval": {False}, "identity": {False}, "any": {True, False}}[bn]
    assert seen["training"] == expected
    assert seen["identity"] == (bn == "identity")


def test_a_proxy_sees_exactly_its_declared_batches():
    """zico declares 2 batches: a third one, as a run with a 3-batch proxy would make, changes nothing."""
    net = testing.make_network()
    b = testing.make_batches(3)
    two = score("zico", net, *b[0], batches=b[:2])
    assert score("zico", net, *b[0], batches=b) == two


# ---- the pass registry -------------------------------------------------------------------------------------------
def test_passes_resolve_in_a_fresh_interpreter_without_a_registry_lookup():
    code = (
        "import sys, torch\n"
        "from proxybench.proxies.context import ProxyContext\n"
        "from proxybench.benchmarks import nb201\n"
        "net = nb201.build_network((3,) * 6, C=4, N=1, num_classes=10, seed=0)\n"
        "x = torch.randn(4, 3, 16, 16)\n"
        "ctx = ProxyContext(net, x, torch.arange(4), teacher=nb201.build_network((3,) * 6, C=4, N=1, seed=1))\n"
        "assert 'proxybench.proxies.kd._teacher' not in sys.modules\n"
        "print(sorted(ctx.pass_('teacher_features')), len(ctx.pass_('aznas_features').expressivity))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "'logits'" in out.stdout and "'bn_modes'" in out.stdout


def _sibling_imports(path: Path) -> set[str]:
    """Modules of the same package that ``path`` imports at module level (``from .x import``, ``from . import x``)."""
    out = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            out.update([node.module.split(".")[0]] if node.module else [a.name for a in node.names])
    return out


def test_no_import_cycle_between_the_context_and_the_passes():
    pkg = ROOT / "proxybench" / "proxies"
    graph = {p.stem: _sibling_imports(p) for p in pkg.glob("*.py")}
    assert "passes" not in graph["context"] and "context" in graph["passes"]
    assert graph["pass_registry"] <= {"options", "errors"}

    def reach(start, seen=None):
        seen = set() if seen is None else seen
        for nxt in graph.get(start, ()):
            if nxt not in seen:
                seen.add(nxt)
                reach(nxt, seen)
        return seen

    assert all(name not in reach(name) for name in graph), "import cycle in proxybench.proxies"


# ---- the KD-loss proxies come from the distiller table -------------------------------------------------------------
def test_every_distiller_is_a_proxy_scoring_minus_its_loss():
    assert set(DISTILLERS) <= set(list_proxies(teacher=True))
    x, y = batch(16)
    net, teacher = testing.make_network(), testing._teacher()
    with torch.no_grad():
        import copy

        s = copy.deepcopy(net).train().forward_features(x)
        t = copy.deepcopy(teacher).train().forward_features(x)
    from proxybench.distill.losses import classifier_ce_gradient

    s["head_grad"] = classifier_ce_gradient(s["pooled"], s["logits"], y)
    t["head_grad"] = classifier_ce_gradient(t["pooled"], t["logits"], y)
    for name, d in DISTILLERS.items():
        spec = get_spec(name)
        assert spec.direction == -1 and spec.teacher and spec.labels == ("head_grad" in d.keys)
        assert spec.fn.__doc__ and spec.paper == d.paper
        got = score(name, net, x, y, teacher=teacher)
        assert got == pytest.approx(-float(distill_loss(name, s, t)), rel=1e-5, abs=1e-7), name
        assert math.isfinite(got)


# ---- proxybench.testing catches lying proxies --------------------------------------------------------------------
def test_a_lying_proxy_fails_the_checks(temporary):
    @temporary("liar", bn="any", data_free=True)  # declares: no labels, no teacher, no data, no gradients
    def liar(ctx):
        "Uses the data, the labels and the teacher all the same."
        value = float(ctx.inputs.mean()) + float(ctx.targets.float().mean())
        return value + float(ctx.teacher.classifier.weight.sum())

    with pytest.raises(AssertionError) as info:
        testing.check_proxy("liar")
    msg = str(info.value)
    for check in ("check_without_labels", "check_without_teacher", "check_data_free", "check_finite_float"):
        assert check in msg, msg


LIES = {
    "uses_labels_when_given": (dict(), "check_without_labels",
                               lambda ctx: 0.0 if ctx.targets is None else float(ctx.targets.sum())),
    "uses_teacher_when_given": (dict(), "check_without_teacher",
                                lambda ctx: 0.0 if ctx.teacher is None else 1.0),
    "uses_data": (dict(data_free=True), "check_data_free", lambda ctx: float(ctx.inputs.abs().sum())),
    "reads_a_second_batch": (dict(), "check_finite_float", lambda ctx: float(ctx.batches[1][0].sum())),
    "hidden_backward": (dict(), "check_no_backward", lambda ctx: _hidden_backward(ctx)),
    "wrong_bn": (dict(bn="eval"), "check_bn_mode", lambda ctx: float(ctx.fresh_model().train()(ctx.inputs).sum())),
}


def _hidden_backward(ctx) -> float:
    with torch.enable_grad():
        model = ctx.fresh_model()
        (g,) = torch.autograd.grad(model(ctx.inputs).sum(), [model.classifier.weight])
    return float(g.abs().sum())


@pytest.mark.parametrize("lie", sorted(LIES))
def test_each_kind_of_lie_is_caught_by_its_check(temporary, lie):
    decl, check, body = LIES[lie]

    def fn(ctx):
        "A proxy that does not do what it declares."
        return body(ctx)

    temporary(lie, **decl)(fn)
    with pytest.raises(AssertionError):
        getattr(testing, check)(lie)
    with pytest.raises(AssertionError, match=check):
        testing.check_proxy(lie)


def test_an_honest_throwaway_proxy_passes(temporary):
    @temporary("honest", bn="any", data_free=True, options=(Option("scale", float, 1.0, "a factor"),))
    def honest(ctx):
        "Parameters (millions) times scale."
        return ctx.option("scale") * sum(p.numel() for p in ctx.model.parameters()) / 1e6

    testing.check_proxy("honest")
    assert [c.__name__ for c in testing.proxy_checks("honest")][-4:] == [
        "check_without_labels", "check_without_teacher", "check_data_free", "check_no_backward"]
