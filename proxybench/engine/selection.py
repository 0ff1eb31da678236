"""What a run scores and correlates: the benchmark, the proxies (names and groups), the proxy options and the
architectures."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .settings import DEFAULT_BENCHMARK


def resolve_benchmark(benchmark: Any):
    from ..benchmarks import groundtruth as gtm

    if benchmark is None:
        names = gtm.list_benchmarks()
        if DEFAULT_BENCHMARK not in names:
            have = ", ".join(names) if names else "none"
            raise ValueError(f"the default benchmark {DEFAULT_BENCHMARK!r} is not installed with this proxybench "
                             f"(registered benchmarks: {have}); pass --benchmark NAME or the path of a "
                             f"{gtm.SUFFIX} file")
        benchmark = DEFAULT_BENCHMARK
    if isinstance(benchmark, gtm.GroundTruth):
        return benchmark
    return gtm.load_benchmark(benchmark)


def benchmark_name(gt, given: Any) -> str:
    name = gt.name or (Path(given).stem if isinstance(given, (str, os.PathLike)) else "") or "benchmark"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)

# ---- proxies -------------------------------------------------------------------------------------------------------
def proxy_groups() -> dict[str, list[str]]:
    """Every proxy group and its members, read from the registry: the groups proxies declare in their decorator
    (``default``, ``standard``), ``teacher`` (every proxy needing a teacher) and ``all``."""
    from ..proxies import proxy_groups as groups

    return groups()


def resolve_proxies(proxies: str | Sequence[str] | None, has_teacher: bool) -> tuple[list[str], list[str]]:
    """Proxy names from names and groups (aliases such as ``jacob_cov`` accepted); returns (names, warnings). An
    unknown name raises, listing the valid proxies and groups."""
    from ..analysis.naslib import proxy_name
    from ..proxies import all_specs

    specs = all_specs()
    groups = proxy_groups()
    if proxies is None:
        items = ["default"]
    elif isinstance(proxies, str):
        items = [p.strip() for p in proxies.split(",") if p.strip()]
    else:
        items = [str(p).strip() for p in proxies]
    if not items:
        raise ValueError(f"no proxy given; name proxies ({', '.join(specs)}) or a group ({', '.join(groups)})")
    notes: list[str] = []
    chosen: list[str] = []
    for item in items:
        item = proxy_name(item)  # other spellings (NASLib's jacob_cov) -> proxybench's name
        if item in groups:
            group = list(groups[item])
            if not has_teacher:
                skipped = [n for n in group if specs[n].teacher]
                if skipped and item != "teacher":
                    notes.append(f"no teacher: KD-aware proxies skipped: {', '.join(skipped)} (give --teacher SPEC)")
                elif skipped:
                    raise ValueError("the 'teacher' proxy group needs a teacher; the benchmark has none: give "
                                     "--teacher SPEC (see 'proxybench list teachers')")
                group = [n for n in group if not specs[n].teacher]
            chosen += group
        else:
            if item not in specs:
                raise ValueError(f"unknown proxy {item!r}; valid proxies: {', '.join(specs)}; groups: "
                                 f"{', '.join(groups)}")
            spec = specs[item]
            if spec.teacher and not has_teacher:
                raise ValueError(f"proxy {item!r} needs a teacher and the benchmark has none; give --teacher SPEC "
                                 "(see 'proxybench list teachers')")
            chosen.append(item)
    chosen = list(dict.fromkeys(chosen))
    if not chosen:
        raise ValueError(f"no proxy left to score from {proxies!r}; valid proxies: {', '.join(specs)}")
    return chosen, notes


def check_option_names(options: Mapping[str, Any]) -> None:
    """Refuse an option that no registered proxy declares (``ValueError`` listing the declared ones)."""
    import difflib

    from ..proxies import OptionError, all_specs

    declared = sorted({o.name for s in all_specs().values() for o in s.options})
    for key in options:
        if key not in declared:
            close = difflib.get_close_matches(key, declared, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise OptionError(f"unknown proxy option {key!r}: no proxy declares it{hint}; declared options: "
                              f"{', '.join(declared)} (see 'proxybench list proxies --verbose')")


# ---- archs ---------------------------------------------------------------------------------------------------------
def _read_arch_file(path: Path) -> list[str]:
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"--archs file {path} is not a text file of indices or arch strings") from None
    items = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            items.append(line)
    if not items:
        raise ValueError(f"--archs file {path} lists no architecture (one official index or arch string per line)")
    return items


def _single_arch(space, text: str) -> bool:
    """Whether ``text`` spells one architecture of a space other than NB201 (e.g. an S1 code such as ``333``)."""
    if space.name == "nb201":
        return False
    try:
        space.parse_arch(text)
    except ValueError:
        return False
    return True


def resolve_archs(archs: Any, arch_seed: int, available: Sequence[int],
                  space: Any = None) -> tuple[list[tuple[int, str]], list[str]]:
    """The architectures of a run: ``N`` sampled with ``arch_seed`` from ``available`` (the benchmark's archs),
    ``"all"``, a sequence or comma-separated list of indices / arch strings, or the path of a file of them;
    indices and strings of ``space`` (default NB201). A number larger than the benchmark that spells an arch of
    the space (an S1 code such as ``333``) selects that arch.

    Sampling takes the first N of one seeded permutation, so a larger N extends a smaller one."""
    from ..benchmarks import nb201
    from ..benchmarks.spaces import get_space

    sp = get_space(space)
    pool = sorted(int(i) for i in available)
    notes: list[str] = []
    items: list[Any] | None = None
    if isinstance(archs, os.PathLike):
        p = Path(archs).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"--archs file {p} does not exist")
        items = _read_arch_file(p)
    elif isinstance(archs, str):
        text = archs.strip()
        if text.lower() == "all":
            if not pool:
                raise ValueError("--archs all: the benchmark lists no architecture")
            return [(i, sp.index_to_arch(i)) for i in pool], notes
        if text.isdigit() and not (int(text) > len(pool) and _single_arch(sp, text)):
            archs = int(text)
        elif Path(text).expanduser().is_file():
            items = _read_arch_file(Path(text).expanduser())
        elif "," in text and "|" not in text:
            items = [t.strip() for t in text.split(",") if t.strip()]
        elif text.startswith("|") or _single_arch(sp, text):
            items = [text]
        else:
            raise ValueError(f"bad --archs {archs!r}: give a number N (sampled from the benchmark's "
                             f"{len(pool)} architectures), 'all', comma-separated indices, or an existing file of "
                             "indices / arch strings (one per line)")
    if items is None and isinstance(archs, (int, np.integer)) and not isinstance(archs, bool):
        n = int(archs)
        if n < 1 or n > len(pool):
            raise ValueError(f"bad --archs {n}: the benchmark has {len(pool)} architectures; give 1..{len(pool)} "
                             "or 'all'")
        order = np.random.default_rng(int(arch_seed)).permutation(len(pool))[:n]
        chosen = sorted(pool[i] for i in order)
        return [(i, sp.index_to_arch(i)) for i in chosen], notes
    if items is None:
        if isinstance(archs, (list, tuple)):
            items = list(archs)
        else:
            raise ValueError(f"bad --archs {archs!r}: give N, 'all', a list of indices / arch strings or a file")
    out: list[tuple[int, str]] = []
    for item in items:
        if sp.name != "nb201":
            try:
                out.append(sp.canonical(item.strip() if isinstance(item, str) else item))
            except ValueError as exc:
                raise ValueError(f"bad architecture {item!r} in --archs: {exc}") from None
            continue
        try:
            arch = nb201.parse_arch(item.strip() if isinstance(item, str) else item)
        except (ValueError, IndexError, KeyError, TypeError) as exc:
            raise ValueError(f"bad architecture {item!r} in --archs: {exc}; give official indices "
                             f"0..{nb201.NUM_ARCHS - 1} or arch strings |op~0|+|op~0|op~1|+|op~0|op~1|op~2|") from None
        out.append((nb201.arch_to_index(arch), arch))
    out = list(dict.fromkeys(out))
    absent = [i for i, _ in out if i not in set(pool)]
    if absent:
        notes.append(f"{len(absent)} of {len(out)} selected architectures have no ground truth in the benchmark "
                     f"(e.g. index {absent[0]}); they are scored but left out of the correlations")
    return out, notes


# ---- ground truths -----------------------------------------------------------------------------------------------
def data_family(name: str | None) -> str | None:
    """The data set a data name belongs to: a ground-truth dataset name (``cifar10-valid`` -> ``cifar10``), a data
    set or its bundled sample (``fashion-mnist-sample`` -> ``fashion-mnist``); None when unknown."""
    from ..benchmarks.datasets.registry import for_ground_truth

    if name is None:
        return None
    spec = for_ground_truth(str(name))
    return None if spec is None else (spec.sample_of or spec.name)


def resolve_metrics(gt, metrics: str | Sequence[str] | None, data: Mapping) -> tuple[list[tuple[str, str]], list[str]]:
    """The (dataset, metric) pairs of the benchmark that a run correlates with; returns (pairs, notes).

    ``None``: the ground truths of the data the batches come from (a CIFAR-10 batch on an NB201 table of several
    data sets correlates with the CIFAR-10 ones only), every one when none matches. Else a comma-separated list
    (or a sequence) of ``DATASET/METRIC``, ``METRIC`` (on every data set that has it; the data's own when it is
    among them) or ``all``. A name the benchmark lacks raises ``ValueError`` listing the valid ones."""
    pairs = [(str(d), str(m)) for d, m in gt.pairs()]
    valid = [f"{d}/{m}" for d, m in pairs]
    family = data_family(data.get("benchmark_dataset")) or data_family(data.get("dataset"))
    own = [(d, m) for d, m in pairs if family is not None and data_family(d) == family]
    if metrics is None:
        if own:
            return own, []
        return pairs, ([f"none of the benchmark's ground truths ({', '.join(valid)}) is on the data of the batches "
                        f"({data.get('dataset')}); correlating with all of them (choose with --metric)"]
                       if len({data_family(d) or d for d, _ in pairs}) > 1 else [])
    items = [t.strip() for t in (metrics.split(",") if isinstance(metrics, str) else
                                 [x for m in metrics for x in str(m).split(",")]) if t.strip()]
    if not items:
        raise ValueError(f"--metric is empty; valid: {', '.join(valid)}, a metric name, or 'all'")
    chosen: list[tuple[str, str]] = []
    for item in items:
        if item.lower() == "all":
            chosen += pairs
            continue
        if "/" in item:
            hit = [p for p in pairs if f"{p[0]}/{p[1]}".lower() == item.lower()]
        else:
            hit = [p for p in pairs if p[1].lower() == item.lower()]
            mine = [p for p in hit if p in own]
            hit = mine or hit
        if not hit:
            names = sorted({m for _, m in pairs})
            raise ValueError(f"unknown --metric {item!r} for benchmark {gt.name!r}; valid: {', '.join(valid)} "
                             f"(DATASET/METRIC), a metric name ({', '.join(names)}), or 'all'")
        chosen += hit
    return list(dict.fromkeys(chosen)), []


# ---- rank ensembles ----------------------------------------------------------------------------------------------
def resolve_ensembles(ensembles: str | Sequence[str] | None, scored: Sequence[str],
                      method: str | None = None) -> dict[str, list[str]]:
    """The rank ensembles of a run, ``{"ens:a+b": ["a", "b"]}`` from ``"a+b"`` (comma-separated or a list; see
    :func:`proxybench.analysis.ensembles.parse_ensembles`); every member must be one of the ``scored`` proxies,
    and ``method`` one of :data:`proxybench.analysis.ensembles.METHODS` (None: ``rank_sum``), given only with
    ensembles."""
    from ..analysis.ensembles import check_ensembles, parse_ensembles

    out = parse_ensembles(ensembles)
    if method is not None and not out:
        raise ValueError(f"--ensemble-method {method!r} given without --ensemble; name an ensemble, e.g. "
                         "--ensemble nwot+synflow")
    check_ensembles(out, scored, method or "rank_sum")
    return out
