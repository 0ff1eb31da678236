"""``run_search``: a training-free student search end to end (DisWOT's use case, Dong, Li & Wei, CVPR 2023).

Given a teacher, find the student architecture of highest fitness without training: the fitness is a proxy (DisWOT
by default), a rank ensemble of proxies, the ground truth itself (``oracle``), or any callable; the search is
regularized evolution or random search over the architectures of a search space (NB201 cells by default, DisWOT's
S1 ResNets, any registered space), optionally under a parameter / FLOP budget.

The setting follows the benchmark when one is given (``benchmark=`` name or ``.pbgt`` path): its search space, its
image data (a batch of real images, drawn with ``score_seed``), its network settings and its teacher (a trained
checkpoint when it ships one); ``teacher=``/``data=``/``network=`` override them. Each student network is built
with ``score_seed`` and scored by the engine's :func:`~proxybench.engine.score_unit`, exactly as ``proxybench eval``
scores it.
With a ground truth the result reports the found arch's true value, percentile and rank next to the table's best.
"""

from __future__ import annotations

import math
import random
import re
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..checks import check_choice, check_int
from ..io import write_json, write_tables
from . import report
from .evolution import DEFAULT_CYCLES, DEFAULT_POPULATION, DEFAULT_SAMPLE, check_evolution, regularized_evolution
from .fitness import (
    CallableFitness,
    EnsembleFitness,
    Fitness,
    OracleFitness,
    ProxyFitness,
    ScoreBook,
    parse_fitness,
)
from .random_search import random_search
from .space import Budget, SearchDomain, parse_budget

ALGORITHMS = ("evolution", "random")
SPACES = ("all", "table")
"""The restrictions ``space=`` also accepts besides a registered space name: every architecture of the space, or
only those of the ground-truth table."""
DEFAULT_PROXY = "diswot"


@dataclass
class SearchResult:
    """What a search found. ``trajectory``: one row per proposal (cycle, phase, arch_index, arch, parent_index,
    score, cached, status, best_so_far_score, best_so_far_index, best_so_far_arch, seconds, elapsed; with a
    ground truth also true_value, best_so_far_true, visited_best_true). ``scores``: tidy per-(arch, member proxy)
    scores of every arch scored. ``ground_truth``: the found arch judged against the table (None without one)."""

    trajectory: pd.DataFrame
    scores: pd.DataFrame
    best_index: int | None
    best_arch: str | None
    best_score: float
    config: dict
    ground_truth: dict | None
    cost: dict | None
    wall_seconds: float
    search_seconds: float
    scoring_seconds: float
    n_scored: int
    out_dir: Path | None = None
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)

    def summary(self) -> str:
        """A few lines for the terminal."""
        return format_summary(self)


# ---- settings ----------------------------------------------------------------------------------------------------
def _plain_data(meta: Mapping, resolution: int | None, channels: int | None, num_classes: int | None) -> dict:
    """Shape of the networks when no image is needed (oracle / callable fitness): for the budget's counts."""
    spec = meta.get("data") if isinstance(meta.get("data"), Mapping) else {}
    return {"dataset": None, "resolution": int(resolution or spec.get("resolution") or 32),
            "channels": int(channels or spec.get("channels") or 3),
            "num_classes": int(num_classes or spec.get("num_classes") or 10), "batch_size": None}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "search"


# ---- the search --------------------------------------------------------------------------------------------------
def run_search(proxy: str | Callable[[int], float] = DEFAULT_PROXY, *, teacher: str | None = None,
               algorithm: str = "evolution", budget: str | Budget | None = None,
               population: int = DEFAULT_POPULATION, sample: int = DEFAULT_SAMPLE, cycles: int = DEFAULT_CYCLES,
               seed: int = 0, score_seed: int = 0, benchmark: Any = None, metric: str | None = None,
               space: str = "all", table_only: bool = False, data: str | None = None, data_root: Any = None,
               batch_size: int = 64,
               resolution: int | None = None, channels: int | None = None, num_classes: int | None = None,
               network: Mapping | str | None = None, options: Mapping | str | None = None, teacher_seed: int = 0,
               device: str = "cpu", flop_convention: str = "naslib", allow_zero_cells: bool = False,
               train_seconds_per_arch: float | None = None, fitness_name: str | None = None,
               out: Any = None, formats: str = "csv", plot: bool = True, progress: bool = False,
               argv: list[str] | None = None) -> SearchResult:
    """Search a space's architectures for the highest fitness without training (see the module docstring).

    proxy        a proxy name, ``"ens:A+B"`` (online rank-sum ensemble), ``"oracle"`` (ground truth as fitness),
                 or a callable ``fitness(arch_index) -> float``
    algorithm    ``"evolution"`` (regularized evolution: ``population`` P, tournament ``sample`` S) or ``"random"``
    cycles       archs proposed in all (evolution: the initial population included); each arch scored once
    budget       ``"params<=X"``, ``"flops<=Y"`` (millions) or both, comma-joined; exact counts of the network
                 searched, FLOPs in ``flop_convention`` (``naslib`` as the ``flops`` proxy, or ``xautodl``, NB201's)
    seed         the search's random draws; ``score_seed``: the input batch and every network's initialization
    benchmark    a registered name, a ``.pbgt`` path or a GroundTruth; ``None``: no ground truth
    metric       ``METRIC`` or ``DATASET/METRIC`` of the ground truth (default ``kd_acc`` if present, else the first)
    space        a registered search space (``"nb201"``, ``"diswot-s1"``; see ``proxybench list spaces``) or
                 ``"all"`` / ``"table"``: the benchmark's space (NB201 without a benchmark), all of it (NB201: less
                 the zero cells) or only the archs of the ground truth
    table_only   only the archs of the ground truth (as ``space="table"``, with a named space)
    out          a folder for trajectory/scores tables, search.json and search.png; ``"auto"``:
                 runs/search-<fitness>-<time>; ``None``: nothing written
    """
    started = time.time()
    t_setup = time.perf_counter()
    from ..engine.models import resolve_network
    from ..engine.plan import plan_batches, plan_data, plan_teacher, resolve_device, resolve_out
    from ..engine.selection import resolve_benchmark
    from ..engine.settings import parse_formats, parse_key_values
    from ..proxies import check_options, get_spec

    notes: list[str] = []
    from ..benchmarks.spaces import get_space, list_spaces
    from ..engine.plan import inapplicable, resolve_space

    algorithm = check_choice(algorithm, ALGORITHMS, "algorithm")
    space_name = None
    if isinstance(space, str) and space.strip().lower() in SPACES:
        space_kind = "table" if space.strip().lower() == "table" or table_only else "all"
    else:
        try:
            space_name = get_space(space).name
        except ValueError:
            raise ValueError(f"unknown search space {space!r}; valid: {', '.join(list_spaces())} (see 'proxybench "
                             "list spaces'), or 'all' / 'table' (the benchmark's space, all of it or only the "
                             "table's archs)") from None
        space_kind = "table" if table_only else "all"
    seed, score_seed = check_int(seed, "seed", 0), check_int(score_seed, "score_seed", 0)
    teacher_seed = check_int(teacher_seed, "teacher_seed", 0)
    if algorithm == "evolution":
        check_evolution(population, sample, cycles)
    else:
        check_int(cycles, "cycles", 1)
    budget = parse_budget(budget)
    fmts = parse_formats(formats)
    device = resolve_device(device)
    if train_seconds_per_arch is not None and not (isinstance(train_seconds_per_arch, (int, float))
                                                   and train_seconds_per_arch > 0):
        raise ValueError(f"train_seconds_per_arch must be a number > 0, got {train_seconds_per_arch!r}")

    # fitness kind
    if callable(proxy):
        kind, members = "callable", []
    else:
        kind, members = parse_fitness(proxy)

    # benchmark and ground truth
    gt = resolve_space(resolve_benchmark(benchmark), space_name) if benchmark is not None else None
    meta = gt.metadata if gt is not None else {}
    plugin = gt.space if gt is not None else get_space(space_name)
    if gt is None and kind == "oracle":
        raise ValueError("the oracle fitness needs a ground truth: pass --benchmark NAME|PATH")
    if gt is None and space_kind == "table":
        raise ValueError("--space table needs a ground truth: pass --benchmark NAME|PATH")
    net = resolve_network(meta, parse_key_values(network, "network setting"), plugin)
    opts = parse_key_values(options, "proxy option")
    if opts and kind in ("proxy", "ensemble"):
        check_options(members, opts)  # unknown or ill-typed options fail before any data is loaded
    elif opts:
        raise ValueError(f"proxy options given ({', '.join(opts)}), but the {kind} fitness scores no proxy")
    for member, why in inapplicable(members, plugin, opts).items():
        raise ValueError(f"fitness proxy {member!r} cannot score the networks of this search: {why}")

    # data: a batch of real images for proxies; only the network's shape otherwise
    images = None
    if kind in ("proxy", "ensemble"):
        if gt is None and data is None:
            from ..benchmarks.datasets import DATASETS

            raise ValueError("no benchmark given, so no data: pass --data NAME (one of "
                             f"{', '.join(DATASETS)}) or the path of an .npz file for the proxies' input batch")
        check_int(batch_size, "batch_size", 1)
        shape = {"resolution": None if resolution is None else check_int(resolution, "resolution", 4),
                 "channels": None if channels is None else check_int(channels, "channels", 1),
                 "num_classes": None if num_classes is None else check_int(num_classes, "num_classes", 1)}
        data_spec, images, dnotes = plan_data(meta, gt.datasets() if gt is not None else [], data, data_root,
                                              batch_size, False)
        notes += dnotes
        data_spec.update({k: v for k, v in shape.items() if v is not None})
    else:
        data_spec = _plain_data(meta, resolution, channels, num_classes)

    table = None
    gt_pair = None
    if gt is not None:
        prefer = data_spec.get("benchmark_dataset") or data_spec.get("dataset")
        gt_pair = report.resolve_metric(gt, metric, prefer_dataset=prefer)
        table = gt.table(*gt_pair)
    elif metric is not None:
        raise ValueError(f"--metric {metric!r} given but no ground truth: pass --benchmark NAME|PATH")

    sp = SearchDomain(budget, space=plugin, network={k: net[k] for k in plugin.network_keys},
                      num_classes=data_spec["num_classes"], in_channels=data_spec["channels"],
                      resolution=data_spec["resolution"], flop_convention=flop_convention,
                      allow_zero_cells=allow_zero_cells, restrict_to=table.index if space_kind == "table" else None)

    # the fitness
    teacher_info: dict = {"spec": None}
    fit: Fitness
    if kind == "callable":
        fit = CallableFitness(proxy, fitness_name)
    elif kind == "oracle":
        fit = OracleFitness(table, fitness_name)
    else:
        from ..engine.executors import Job

        needs_teacher = [m for m in members if get_spec(m).teacher]
        model = None
        if needs_teacher:
            model, spec, _ident, teacher_info = plan_teacher(teacher, meta, gt.path if gt else None, data_spec,
                                                             teacher_seed)
            if model is None:
                raise ValueError(f"proxy {needs_teacher[0]!r} needs a teacher: pass --teacher SPEC (see 'proxybench "
                                 "list teachers'), or a benchmark that names its teacher")
        elif teacher is not None and str(teacher).strip().lower() != "none":
            notes.append(f"--teacher {teacher!r} is not used: no member of {proxy!r} needs a teacher")
        batches = plan_batches(images, data_spec, [score_seed], members)
        job = Job(key=f"search-{uuid.uuid4().hex[:12]}", proxies=list(members), network=dict(net),
                  num_classes=int(data_spec["num_classes"]), in_channels=int(data_spec["channels"]),
                  batches=batches, teacher=model, device=device, options=opts)
        cls = EnsembleFitness if kind == "ensemble" else ProxyFitness
        fit = cls(members, job, score_seed, fitness_name)

    # output folder, checked before the search runs
    out_dir = resolve_out(out, f"search-{_slug(fit.name)}")
    setup_seconds = time.perf_counter() - t_setup

    # the search
    bar = None
    on_row = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cycles, desc=f"{algorithm} / {fit.name}", unit="cycle", file=sys.stderr, dynamic_ncols=True)

        def on_row(row: dict) -> None:
            bar.update(1)
            if row["best_so_far_index"] >= 0:
                bar.set_postfix_str(f"best #{row['best_so_far_index']} {row['best_so_far_score']:.4g}", refresh=False)

    book = ScoreBook(fit, sp, on_row=on_row)
    rng = random.Random(seed)
    t_search = time.perf_counter()
    try:
        if algorithm == "evolution":
            regularized_evolution(sp, book, rng, population=population, sample=sample, cycles=cycles)
        else:
            random_search(sp, book, rng, cycles=cycles)
    finally:
        if bar is not None:
            bar.close()
    search_seconds = time.perf_counter() - t_search
    wall_seconds = setup_seconds + search_seconds

    traj = book.trajectory()
    best_index, best_score = book.best()
    best_arch = book.records[best_index].arch if best_index is not None else None
    if best_index is None:
        notes.append(f"no architecture got a finite fitness from {fit.name!r}")
    truth = None
    if table is not None:
        traj = report.add_truth_columns(traj, table)
        truth = report.judge(table, best_index, best_arch, plugin)
        truth.update(benchmark=gt.name, dataset=gt_pair[0], metric=gt_pair[1])
    per_run = None
    if train_seconds_per_arch is not None:
        per_run = (float(train_seconds_per_arch), "given (train_seconds_per_arch)")
    elif gt is not None:
        per_run = report.seconds_per_training_run(meta, len(gt.ground_truth))
    cost = report.training_cost(len(book.records), wall_seconds, per_run)
    n_err = sum(1 for ev in book.records.values() if ev.status == "error")
    if n_err:
        first = next(ev for ev in book.records.values() if ev.status == "error")
        notes.append(f"{n_err} of {len(book.records)} archs scored with an error (fitness -inf); first: arch "
                     f"{first.arch_index}: {first.error}")

    from ..engine.runner import machine_info, versions

    config = {
        "fitness": fit.describe(), "proxy": proxy if isinstance(proxy, str) else fit.name,
        "algorithm": algorithm,
        "population": population if algorithm == "evolution" else None,
        "sample": sample if algorithm == "evolution" else None, "cycles": cycles,
        "seed": seed, "score_seed": score_seed, "space": {"kind": space_kind, **sp.describe()},
        "network": net, "data": {k: v for k, v in data_spec.items() if k != "root"}, "teacher": teacher_info,
        "teacher_seed": teacher_seed if teacher_info.get("spec") else None, "options": opts, "device": device,
        "benchmark": None if gt is None else {"name": gt.name, "path": str(gt.path) if gt.path else None},
        "ground_truth": None if gt_pair is None else f"{gt_pair[0]}/{gt_pair[1]}",
    }
    scores = book.scores(score_seed)
    found_cycle = int(traj.loc[traj["arch_index"] == best_index, "cycle"].iloc[0]) if best_index is not None else None
    info = {
        "command": argv, "config": config, "versions": versions(), "machine": machine_info(device),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "timing": {"wall_s": wall_seconds, "setup_s": setup_seconds, "search_s": search_seconds,
                   "scoring_s": book.scoring_seconds, "archs_scored": len(book.records),
                   "scoring_s_per_arch": book.scoring_seconds / max(len(book.records), 1),
                   "proposals": len(traj), "cache_hits": int(traj["cached"].sum())},
        "result": {"best_index": best_index, "best_arch": best_arch, "best_score": best_score,
                   "found_at_cycle": found_cycle, "ground_truth": truth, "training_cost": cost},
        "warnings": notes,
    }
    files: list[Path] = []
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        files += write_tables(traj, out_dir, "trajectory", fmts)
        files += write_tables(scores, out_dir, "scores", fmts)
        if plot:
            label = "fitness: mean percentile rank" if fit.online else f"fitness: {fit.name}"
            title = (f"{algorithm} search, fitness {fit.name}, seed {seed}"
                     + (f", budget {budget}" if budget.active else ""))
            files.append(report.plot_trajectory(traj, out_dir / "search.png", title=title, fitness_label=label,
                                                truth=truth))
        info["files"] = [p.name for p in files] + ["search.json"]
        files.append(write_json(out_dir / "search.json", info))
    return SearchResult(trajectory=traj, scores=scores, best_index=best_index, best_arch=best_arch,
                        best_score=best_score, config=config, ground_truth=truth, cost=cost,
                        wall_seconds=wall_seconds, search_seconds=search_seconds,
                        scoring_seconds=book.scoring_seconds, n_scored=len(book.records), out_dir=out_dir,
                        files=files, warnings=notes, info=info)


# ---- the terminal summary ----------------------------------------------------------------------------------------
def format_summary(r: SearchResult) -> str:
    c = r.config
    algo = (f"regularized evolution (P={c['population']}, S={c['sample']})" if c["algorithm"] == "evolution"
            else "random search")
    sp = c["space"]
    where = f"budget {sp['budget']}, " if sp["budget"] != "none" else ""
    lines = [f"{algo}, {c['cycles']} cycles, seed {c['seed']}; fitness {c['fitness']['name']}; {where}"
             f"{sp['valid_cells']:,} valid " + ("cells" if sp.get("space", "nb201") == "nb201" else
                                                 f"{sp['space']} archs")
             + (" (restricted to the table)" if sp["restricted"] else "")]
    t = r.info.get("timing", {})
    lines.append(f"scored {r.n_scored} unique archs ({t.get('cache_hits', 0)} repeats from the cache) in "
                 f"{r.search_seconds:.1f} s ({t.get('scoring_s_per_arch', math.nan):.3f} s per arch scored); "
                 f"setup {t.get('setup_s', math.nan):.1f} s; wall {r.wall_seconds:.1f} s")
    if r.best_index is None:
        lines.append("best: none (no finite fitness)")
    else:
        found = r.info.get("result", {}).get("found_at_cycle")
        lines.append(f"best: #{r.best_index} {r.best_arch}  fitness {r.best_score:.6g} (first proposed at cycle "
                     f"{found})")
    g = r.ground_truth
    if g is not None:
        head = f"ground truth {g['benchmark'] or 'table'} {g['ground_truth']} ({g['n_archs']:,} archs)"
        best = f"table best {g['table_best_value']:.2f} (#{g['table_best_index']})"
        if g.get("value") is not None:
            lines.append(f"{head}: found {g['value']:.2f}, percentile {g['percentile']:.1f}, rank {g['rank']:,} of "
                         f"{g['n_archs']:,}; {best}; median {g['table_median_value']:.2f}")
        elif r.best_index is not None:
            eq = g.get("equivalent_in_table") or []
            extra = ("; an equivalent cell of the table: " + ", ".join(f"#{e['arch_index']} = {e['value']:.2f}"
                                                                       for e in eq)) if eq else ""
            lines.append(f"{head}: the found arch #{r.best_index} is not in the table, no true value{extra}; {best}")
    if r.cost is not None:
        k = r.cost
        ref = k["diswot_reference"]
        lines.append(f"training-based search estimate: {k['archs_evaluated']} archs x {k['seconds_per_run']:,.1f} s "
                     f"= {k['training_search_s']:,.0f} s vs this search {k['proxy_search_s']:,.1f} s: "
                     f"{k['ratio']:,.0f}x faster (DisWOT: {ref['training_search_s']:,.0f} s vs "
                     f"{ref['proxy_search_s']:,.0f} s, {ref['ratio']:.0f}x); per run: {k['basis']}")
    for w in r.warnings:
        lines.append(f"warning: {w}")
    if r.out_dir is not None:
        lines.append(f"files in {r.out_dir}: " + ", ".join(p.name for p in r.files))
    return "\n".join(lines)
