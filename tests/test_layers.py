"""The package's layers: the import graph has no cycle and no upward import, and the data layers load without torch.

Layers, lowest first (a module may import its own layer and the ones below):

0. the foundation: ``proxybench`` itself, ``_version``, ``io``, ``checks``, ``sqlstore``, ``schema``, ``worker_cache``,
   ``initialization``;
1. data and analysis: ``benchmarks`` (and its alias ``nb201``), ``analysis``;
2. models of the proxies and of distillation: ``proxies``, ``distill``;
3. the engine and the search built on it: ``engine``, ``search``, ``api``;
4. the command line: ``commands``, ``cli``.

Imports are read with :mod:`ast` from every module, at module level and inside functions (a lazy import is still a
dependency); imports under ``if TYPE_CHECKING:`` never run and are left out.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "proxybench"
LAYERS = {"benchmarks": 1, "nb201": 1, "analysis": 1, "proxies": 2, "distill": 2, "engine": 3, "search": 3,
          "api": 3, "testing": 3, "commands": 4, "cli": 4}
# Cycles the package is known to have (none): the test fails when one of them is gone, so that this set only ever
# shrinks; a new cycle fails the test too.
KNOWN_CYCLES: set[frozenset[str]] = set()


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1]) if parts[-1] == "__init__" else ".".join(parts)


class _Imports(ast.NodeVisitor):
    def __init__(self, package: str, modules: set[str]):
        self.package, self.modules, self.found = package, modules, set()

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
            for n in node.orelse:
                self.visit(n)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found |= {a.name for a in node.names if a.name.split(".")[0] == "proxybench"}

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")[: len(self.package.split(".")) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        if target.split(".")[0] != "proxybench":
            return
        for alias in node.names:  # "from .pkg import module" imports the module
            sub = f"{target}.{alias.name}"
            self.found.add(sub if sub in self.modules else target)


def import_graph() -> dict[str, set[str]]:
    """module -> the proxybench modules it imports (statically, anywhere in the module)."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        visitor = _Imports(package, set(paths))
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        graph[name] = {t for t in visitor.found if t in paths and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: set[frozenset[str]] = set()
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = set()
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.add(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    out.add(frozenset(comp))
    return out


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], 0) if len(parts) > 1 else 0


def test_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == {frozenset({"a", "b", "c"})}


def test_import_graph_has_no_cycle():
    found = cycles(import_graph())
    assert found - KNOWN_CYCLES == set(), f"import cycles: {[sorted(c) for c in found - KNOWN_CYCLES]}"
    fixed = KNOWN_CYCLES - found
    assert not fixed, f"these cycles are gone: delete them from KNOWN_CYCLES: {[sorted(c) for c in fixed]}"


def test_no_upward_import_between_layers():
    graph = import_graph()
    assert len(graph) > 80 and "proxybench.benchmarks.groundtruth.table" in graph
    upward = sorted(f"{m} (layer {layer(m)}) imports {t} (layer {layer(t)})"
                    for m, targets in graph.items() for t in targets if layer(t) > layer(m))
    assert upward == []


def test_every_subpackage_has_a_layer():
    top = {p.name if p.is_dir() else p.stem for p in PACKAGE.iterdir()
           if (p.is_dir() and (p / "__init__.py").is_file()) or p.suffix == ".py"}
    foundation = {"__init__", "_version", "io", "checks", "sqlstore", "schema", "initialization", "worker_cache"}
    assert top - foundation <= set(LAYERS), f"give these a layer: {sorted(top - foundation - set(LAYERS))}"


_PROBE = """
import json, sys, time
import pandas  # noqa: F401
t0, c0 = time.perf_counter(), time.process_time()
import proxybench
gt = proxybench.load_benchmark("nb201-kd-fmnist16-v2")
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
import proxybench.analysis, proxybench.benchmarks.groundtruth, proxybench.engine.store  # noqa: E401,F401
from proxybench import nb201
nb201.index_to_arch(0), nb201.arch_to_index(nb201.index_to_arch(7)), nb201.nb201_counts(0)
from proxybench.benchmarks import datasets
datasets.get_dataset("cifar10")
print(json.dumps({"seconds": seconds, "cpu": cpu, "rows": len(gt), "torch": "torch" in sys.modules}))
"""


def test_data_layers_load_without_torch_and_fast():
    """Ground truth, the NB201 space and counts, the dataset registry, the run store and the analysis import without
    torch; loading the default benchmark in a fresh interpreter, after pandas, takes about 0.1 s of CPU (the goal:
    under 0.3 s). Wall time is asserted with room for a busy machine; CPU time is what the load itself costs."""
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, cwd=ROOT, check=True,
                             timeout=120)
        probe = json.loads(out.stdout.strip().splitlines()[-1])
        assert probe["torch"] is False
        assert probe["rows"] == 720  # 480 runs + 240 derived kd_gain rows
        runs.append(probe)
    wall, cpu = min(r["seconds"] for r in runs), min(r["cpu"] for r in runs)
    print(f"\nload_benchmark('nb201-kd-fmnist16-v2') in a fresh interpreter: {wall * 1000:.0f} ms wall, "
          f"{cpu * 1000:.0f} ms CPU (best of 3)")
    assert wall < 1.0
    assert cpu < 0.3


def test_network_builder_still_loads_torch_on_demand():
    out = subprocess.run([sys.executable, "-c", "import sys; from proxybench import nb201; "
                          "net = nb201.build_network(0, C=4, N=1); print(type(net).__name__, 'torch' in sys.modules)"],
                         capture_output=True, text=True, cwd=ROOT, check=True, timeout=120)
    assert out.stdout.split() == ["NB201Network", "True"]
