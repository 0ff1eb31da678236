"""The plan of a run: :func:`make_plan` checks and resolves :class:`EvalSettings` into a :class:`Plan`.

It is built from steps that :func:`proxybench.search.run_search` shares, so a search sets up its data, teacher,
batches and output folder exactly as ``proxybench eval`` does: :func:`plan_data` (the data spec and its images),
:func:`plan_teacher` (the teacher, checked against the data's classes), :func:`plan_batches` (the per-seed input
batches the proxies need) and :func:`resolve_out` (the output folder).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .inputs import check_run_size, check_sizes, load_data, make_input_batches, resolve_data
from .models import resolve_network, resolve_teacher, teacher_spec_from_metadata
from .selection import (
    benchmark_name,
    check_option_names,
    resolve_archs,
    resolve_benchmark,
    resolve_ensembles,
    resolve_metrics,
    resolve_proxies,
)
from .settings import (
    DEVICES,
    EvalSettings,
    Plan,
    _positive_int,
    parse_formats,
    parse_key_values,
    parse_workers,
)


# ---- device --------------------------------------------------------------------------------------------------------
def resolve_device(device: str) -> str:
    import torch

    text = str(device).strip().lower()
    kind = text.split(":", 1)[0]
    if kind not in DEVICES:
        raise ValueError(f"unknown device {device!r}; valid: {', '.join(DEVICES)} (or cuda:N)")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available here; use --device cpu")
        if ":" in text:
            idx = text.split(":", 1)[1]
            if not idx.isdigit() or int(idx) >= torch.cuda.device_count():
                last = torch.cuda.device_count() - 1
                raise ValueError(f"bad device {device!r}; this machine has cuda:0..cuda:{last}")
    return text


def default_out(name: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{name}-{stamp}"


# ---- steps shared with run_search -----------------------------------------------------------------------------------
def plan_data(metadata: Mapping, gt_datasets: Sequence[str], data: str | None, data_root: Any, batch_size: int,
              balanced: bool) -> tuple[dict, Any, list[str]]:
    """The data spec of a run and its images: returns (data spec, ImageSet, warnings). See :func:`resolve_data`."""
    spec = resolve_data(metadata, gt_datasets, data, data_root, batch_size, balanced)
    images, notes = load_data(spec)
    return spec, images, notes


def plan_teacher(given: str | None, metadata: Mapping, gt_path: Path | None, data: Mapping, seed: int):
    """The teacher of a run: ``given`` (``--teacher``) or the benchmark's; returns (module or None, spec, identity,
    info). A teacher whose outputs do not match the data's classes is refused."""
    spec = given if given is not None else teacher_spec_from_metadata(metadata, gt_path)
    teacher, spec, ident, info = resolve_teacher(spec, data["num_classes"], data["channels"], seed)
    if spec is not None:
        info["source"] = "--teacher" if given is not None else "benchmark"
        t_out = int(teacher.classifier.out_features)
        if t_out != data["num_classes"]:
            raise ValueError(f"teacher {spec!r} has {t_out} outputs but the data has {data['num_classes']} classes; "
                             "give a teacher for this data set")
    return teacher, spec, ident, info


def batches_needed(proxies: Sequence[str]) -> int:
    """The most input batches any of ``proxies`` declares."""
    from ..proxies import get_spec

    return max(get_spec(p).batches for p in proxies)


def plan_batches(images, data: dict, seeds: Sequence[int], proxies: Sequence[str]):
    """The input batches of every seed (drawn lazily), as many per seed as the proxies need."""
    return make_input_batches(images, data, seeds, batches_needed(proxies))


def resolve_out(out: Any, name: str, *, run_store: bool = False) -> Path | None:
    """The output folder: ``None`` (nothing written), ``"auto"`` (``runs/<name>-<time>``) or a path that is not a
    file. With ``run_store``, a non-empty folder must hold a run (``store.sqlite``) to resume."""
    if out is None:
        return None
    if str(out) == "auto":
        return default_out(name)
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {str(path)!r} exists and is not a directory")
    if run_store and path.is_dir() and any(path.iterdir()) and not (path / "store.sqlite").exists():
        raise ValueError(f"--out {str(path)!r} is a non-empty directory that holds no proxybench run (no "
                         "store.sqlite); give a new directory or an existing run directory to resume")
    return path


def resolve_space(gt, space: Any = None):
    """The benchmark, on ``space`` when given: a benchmark whose metadata names a space must name this one; one
    that names none (read as NB201's) is read again as a table of ``space``'s architectures."""
    from ..benchmarks.groundtruth import GroundTruth
    from ..benchmarks.spaces import get_space

    if space is None:
        return gt
    sp = get_space(space)
    named = gt.metadata.get("space")
    if named:
        if named != sp.name:
            raise ValueError(f"--space {sp.name!r} contradicts the benchmark {gt.name or gt.path!s}, whose "
                             f"architectures are of search space {named!r}; drop --space")
        return gt
    if sp.name == gt.space.name:
        return gt
    table = gt.ground_truth.copy()
    idx = table["arch_index"].to_numpy()
    bad = sorted({int(i) for i in idx if not 0 <= int(i) < sp.num_archs})
    if bad:
        raise ValueError(f"the benchmark {gt.name or gt.path!s} is not a table of {sp.name} architectures: arch_index "
                         f"{', '.join(map(str, bad[:5]))} out of range; valid: 0..{sp.num_archs - 1}")
    table["arch"] = [sp.index_to_arch(int(i)) for i in idx]  # the rows were validated when the table was read
    return GroundTruth._trusted(table, {**gt.metadata, "space": sp.name}, gt.path)


def inapplicable(proxies: Sequence[str], space: Any, options: Mapping | None = None) -> dict[str, str]:
    """``{proxy: why}`` for the proxies that cannot run on the networks of ``space`` (see
    :func:`proxybench.proxies.not_applicable`)."""
    from ..proxies import not_applicable

    out = {}
    for p in proxies:
        why = not_applicable(p, space, options)
        if why:
            out[p] = why
    return out


# ---- the plan ------------------------------------------------------------------------------------------------------
def make_plan(s: EvalSettings) -> Plan:
    """Check and resolve ``s`` (raises ``ValueError``/``FileNotFoundError`` naming the bad value)."""
    from ..proxies import check_options

    notes: list[str] = []
    formats = parse_formats(s.formats)
    seeds_n = _positive_int(s.seeds, "--seeds")
    batch_size = _positive_int(s.batch_size, "--batch-size")
    check_sizes(seeds_n, batch_size)
    arch_seed = _positive_int(s.arch_seed, "--arch-seed", minimum=0)
    teacher_seed = _positive_int(s.teacher_seed, "--teacher-seed", minimum=0)
    workers = parse_workers(s.workers)
    if s.threads is not None:
        _positive_int(s.threads, "--threads")
    if workers not in (0, "auto") and s.scheduler is not None:
        raise ValueError("give either --workers N (a local process pool) or --scheduler ADDRESS (dask), not both")
    if s.scheduler is not None and isinstance(s.scheduler, str) and "://" not in s.scheduler:
        raise ValueError(f"bad --scheduler {s.scheduler!r}: give the dask scheduler address, e.g. "
                         "tcp://127.0.0.1:8786")
    device = resolve_device(s.device)
    gt = resolve_space(resolve_benchmark(s.benchmark), s.space)
    name = benchmark_name(gt, s.benchmark)
    meta = gt.metadata
    space = gt.space
    data = resolve_data(meta, gt.datasets(), s.data, s.data_root, batch_size, s.balanced)
    ground_truths, mnotes = resolve_metrics(gt, s.metrics, data)  # a bad --metric fails before data is loaded
    notes += mnotes
    network = resolve_network(meta, parse_key_values(s.network, "network setting"), space)
    options = parse_key_values(s.options, "proxy option")
    check_option_names(options)  # a typo fails before any data is loaded
    seeds = list(range(seeds_n))

    images, dnotes = load_data(data)
    notes += dnotes
    teacher, spec, t_ident, t_info = plan_teacher(s.teacher, meta, gt.path, data, teacher_seed)

    proxies, pnotes = resolve_proxies(s.proxies, teacher is not None)
    notes += pnotes
    check_options(proxies, options)
    skipped = inapplicable(proxies, space, options)
    notes += [f"proxy {p} is not scored: {why}; its rows are stored with status error" for p, why in skipped.items()]
    ensembles = resolve_ensembles(s.ensembles, proxies, s.ensemble_method)
    available = sorted(int(i) for i in gt.ground_truth["arch_index"].unique())
    archs, anotes = resolve_archs(s.archs, arch_seed, available, space)
    notes += anotes
    check_run_size(len(archs), len(seeds), data, batches_needed(proxies))
    batches = plan_batches(images, data, seeds, proxies)
    identity = {
        "benchmark": name,
        "data": {k: data[k] for k in ("dataset", "resolution", "channels", "num_classes", "split", "batch_size",
                                      "balanced")},
        "network": network,
        "teacher": t_ident,
        "options": options,
        "device": device.split(":", 1)[0],
        "dtype": "float32",
    }
    selection = {"proxies": proxies, "archs": len(archs), "arch_indices": [i for i, _ in archs], "seeds": seeds,
                 "arch_seed": arch_seed, "archs_arg": str(s.archs),
                 "ground_truths": [f"{d}/{m}" for d, m in ground_truths],
                 "ensembles": {k: list(v) for k, v in ensembles.items()},
                 "ensemble_method": (s.ensemble_method or "rank_sum") if ensembles else None}
    out = resolve_out(s.out, name, run_store=True)
    return Plan(benchmark=gt, benchmark_name=name, proxies=proxies, archs=archs, seeds=seeds, data=data,
                network=network, teacher_spec=spec, teacher=teacher, teacher_info=t_info, batches=batches,
                device=device, options=options, formats=formats, out=out, identity=identity, selection=selection,
                warnings=notes, ground_truths=ground_truths, ensembles=ensembles,
                ensemble_method=s.ensemble_method or "rank_sum", space=space.name, not_applicable=skipped)
