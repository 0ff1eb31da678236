"""What an evaluation run is: the user's settings (:class:`EvalSettings`) resolved into a :class:`Plan`.

Resolution checks every value up front and raises ``ValueError`` / ``FileNotFoundError`` naming the bad value
and the valid ones (the CLI maps them to exit status 2), before any network is scored:

* benchmark: a registered name or a ground-truth file; default :data:`DEFAULT_BENCHMARK`;
* data: the benchmark's data spec (``metadata["data"]``: dataset, resolution, channels, num_classes), read
  from the bundled image sample by default (``fashion-mnist`` benchmarks use ``fashion-mnist-sample``);
  ``synthetic`` only when asked for by name, and then flagged in the run's warnings;
* network: ``metadata["network"]`` (C, N, init) with overrides;
* teacher: ``--teacher`` or the benchmark's teacher (a trained checkpoint when it ships one);
* proxies: names and groups (:func:`proxy_groups`: the groups the proxies declare, ``teacher`` and ``all``);
  an unknown name is an error;
* options: each must be declared by at least one proxy of the run and valid for every proxy that declares it;
* archs: N sampled with a seed from the benchmark's architectures, ``all``, a list, or a file of official
  indices or arch strings (one per line, ``#`` comments);
* seeds: K network-initialization seeds 0..K-1; the input batches of seed s are drawn with seed s.

The plan's :attr:`Plan.identity` holds every setting that changes a score; the run store refuses to resume a run
whose identity differs. Proxies, archs and seeds are the run's *selection*: resuming with a larger selection
scores only what is missing.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import re
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import check_int

DEFAULT_BENCHMARK = "nb201-kd-fmnist16"
DEFAULT_BATCH_SIZE = 64
FORMATS = ("csv", "parquet")
DEVICES = ("cpu", "cuda")
NETWORK_KEYS = ("C", "N", "init")
_DEFAULT_NETWORK = {"C": 16, "N": 5, "init": "default"}


@dataclass
class EvalSettings:
    """The settings of ``proxybench eval`` / :func:`proxybench.evaluate` (see the module docstring)."""

    benchmark: Any = None
    proxies: str | Sequence[str] | None = None
    archs: int | str | Sequence[int | str] | os.PathLike = "all"
    arch_seed: int = 0
    seeds: int = 1
    batch_size: int = DEFAULT_BATCH_SIZE
    balanced: bool = False
    data: str | None = None
    data_root: str | os.PathLike | None = None
    teacher: str | None = None
    teacher_seed: int = 0
    network: Mapping[str, Any] | None = None
    options: Mapping[str, Any] | None = None
    device: str = "cpu"
    workers: int | str = 0  # "auto": one process per core for runs of at least 4 units per core
    threads: int | None = None
    scheduler: Any = None
    out: str | os.PathLike | None = None  # None: a temporary directory (nothing kept); "auto": runs/<name>-<time>
    formats: str | Sequence[str] = ("csv",)
    report: bool = True
    quiet: bool = False
    ci_resamples: int = 1000
    restart: bool = False  # move an existing (or unreadable) store aside and start the run over


@dataclass
class Plan:
    """A checked, resolved run: everything the runner and the workers need."""

    benchmark: Any  # GroundTruth
    benchmark_name: str
    proxies: list[str]
    archs: list[tuple[int, str]]
    seeds: list[int]
    data: dict
    network: dict
    teacher_spec: str | None
    teacher: Any  # nn.Module or None
    teacher_info: dict
    batches: Mapping[int, list]  # a SeedBatches: drawn per seed when needed
    device: str
    options: dict
    formats: list[str]
    out: Path | None
    identity: dict
    selection: dict
    warnings: list[str] = field(default_factory=list)


# ---- small parsers ---------------------------------------------------------------------------------------------
def _positive_int(value: Any, what: str, minimum: int = 1) -> int:
    return check_int(value, what, minimum, parse=True)


def parse_workers(workers: int | str) -> int | str:
    """A worker count >= 0 or ``"auto"``."""
    if isinstance(workers, str) and workers.strip().lower() == "auto":
        return "auto"
    try:
        return _positive_int(workers, "--workers", minimum=0)
    except ValueError:
        raise ValueError(f"bad --workers {workers!r}: give 0 (score in this process), a number of worker "
                         "processes, or 'auto'") from None


def choose_workers(workers: int | str, scheduler: Any, n_tasks: int, cpus: int) -> int:
    """The process-pool size of a run: ``auto`` uses one worker per core (each with one torch thread) when
    there are at least 4 units per core to score, else none (scoring in this process)."""
    if scheduler is not None:
        return 0
    if workers == "auto":
        return cpus if cpus > 1 and n_tasks >= 4 * cpus else 0
    return int(workers)


def parse_formats(formats: str | Sequence[str]) -> list[str]:
    items = [f.strip().lower() for f in (formats.split(",") if isinstance(formats, str) else formats)]
    items = [f for f in items if f]
    bad = [f for f in items if f not in FORMATS]
    if bad or not items:
        raise ValueError(f"bad --format {formats!r}: valid formats are {', '.join(FORMATS)} (comma-separated)")
    if "parquet" in items:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ValueError("--format parquet needs pyarrow: pip install pyarrow (or proxybench[parquet])") from None
    return list(dict.fromkeys(items))


def parse_key_values(text: str | Sequence[str] | Mapping | None, what: str) -> dict[str, Any]:
    """``"a=1,b=x"`` (or a list of ``k=v``) -> ``{"a": 1, "b": "x"}``; numbers and true/false are converted."""
    if text is None:
        return {}
    if isinstance(text, Mapping):
        return dict(text)
    items = text.split(",") if isinstance(text, str) else [t for s in text for t in s.split(",")]
    out: dict[str, Any] = {}
    for item in items:
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"bad {what} {item!r}: expected KEY=VALUE")
        out[key.strip()] = _convert_value(value.strip())
    return out


def _convert_value(v: str) -> Any:
    low = v.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---- benchmark ---------------------------------------------------------------------------------------------------
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


# ---- data --------------------------------------------------------------------------------------------------------
def resolve_data(metadata: Mapping, gt_datasets: Sequence[str], data: str | None, data_root: Any,
                 batch_size: int, balanced: bool) -> dict:
    """The data spec of a run: the data set the batches come from, its resolution, channels and classes.

    The benchmark's ``metadata["data"]`` wins; what it leaves out comes from the data set registry
    (:mod:`proxybench.benchmarks.datasets.registry`), for the benchmark's data set or the images used."""
    from ..benchmarks import datasets as ds

    spec = metadata.get("data") if isinstance(metadata.get("data"), Mapping) else {}
    bench_ds = spec.get("dataset")
    if bench_ds is None:
        families = {str(d): ds.for_ground_truth(d) for d in gt_datasets}
        names = {f.name for f in families.values() if f is not None}
        if len(names) == 1 and all(families.values()):
            bench_ds = names.pop()
        elif data is None:
            raise ValueError(f"the benchmark does not say which images its networks see (ground-truth datasets: "
                             f"{', '.join(map(str, gt_datasets))}); pass --data NAME, one of {', '.join(ds.DATASETS)}")
    bench = ds.get_dataset(bench_ds) if bench_ds is not None else None
    if data is None:  # the bundled sample, unless a data root is given for the benchmark's own data set
        source = "fashion-mnist-sample" if bench is not None and bench.name == "fashion-mnist" and data_root is None \
            else bench.name
    elif str(data).lower().endswith(".npz"):
        source = str(Path(data).expanduser())
    else:
        source = ds.canonical_name(data)
    images = ds.REGISTRY.get(source)  # None for an .npz file
    known = bench or images  # the networks' input: the benchmark's data set, else the images'
    resolution, channels, num_classes = spec.get("resolution"), spec.get("channels"), spec.get("num_classes")
    if resolution is None:
        resolution = known.resolution if known else 32
    if channels is None:
        channels = known.channels if known else 3
    if not num_classes and known:
        num_classes = known.num_classes
    out = {"dataset": source, "benchmark_dataset": bench.name if bench else None, "resolution": int(resolution),
           "channels": int(channels), "num_classes": None if num_classes is None else int(num_classes),
           "split": str(spec.get("split", "test")), "batch_size": int(batch_size), "balanced": bool(balanced),
           "root": None if data_root is None else str(Path(data_root).expanduser()),
           "synthetic": images is not None and images.layout == "generated"}
    return out


def load_data(data: dict):
    """Load the images of a data spec (filling in its classes and source); returns (ImageSet, warnings)."""
    from ..benchmarks import datasets as ds

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always", ds.SyntheticDataWarning)
        images = ds.load_images(data["dataset"], split=data["split"], root=data["root"])
    caught = [str(x.message) for x in w if issubclass(x.category, ds.SyntheticDataWarning)]
    if data["num_classes"] is None:
        data["num_classes"] = int(images.num_classes)
    data["source"] = images.source
    data["images"] = len(images)
    return images, caught


MAX_SEEDS = 10_000
"""The largest ``--seeds``: more network-init seeds than this is a typo, not an experiment."""
MAX_BATCH_SIZE = 8192
"""The largest ``--batch-size``."""
MAX_UNITS = 10_000_000
"""The most (arch, seed) units one run may have (``--archs`` x ``--seeds``)."""
MAX_BATCH_MEMORY_FRACTION = 0.25
"""One seed's input batches may take at most this fraction of the machine's memory."""
CACHED_SEEDS = 2
"""How many seeds' input batches a :class:`SeedBatches` (and a worker) holds at once."""


def check_sizes(seeds: int, batch_size: int) -> None:
    """Refuse absurd ``--seeds`` / ``--batch-size`` before anything is loaded (exit status 2)."""
    if seeds > MAX_SEEDS:
        raise ValueError(f"--seeds {seeds} is more than the limit of {MAX_SEEDS} network-init seeds per arch; "
                         f"give --seeds between 1 and {MAX_SEEDS}")
    if batch_size > MAX_BATCH_SIZE:
        raise ValueError(f"--batch-size {batch_size} is more than the limit of {MAX_BATCH_SIZE} images; "
                         f"give --batch-size between 1 and {MAX_BATCH_SIZE}")


def _physical_memory() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def check_run_size(n_archs: int, n_seeds: int, data: Mapping, num_batches: int) -> None:
    """Refuse a run whose (arch, seed) count exceeds :data:`MAX_UNITS` or whose input batches of one seed
    (float32) would take more than :data:`MAX_BATCH_MEMORY_FRACTION` of the machine's memory."""
    units = n_archs * n_seeds
    if units > MAX_UNITS:
        raise ValueError(f"--archs ({n_archs}) x --seeds ({n_seeds}) = {units} (arch, seed) units is more than the "
                         f"limit of {MAX_UNITS}; sample fewer archs or seeds")
    per_seed = 4 * int(data["batch_size"]) * int(data["channels"]) * int(data["resolution"]) ** 2 * num_batches
    mem = _physical_memory()
    if mem and per_seed > MAX_BATCH_MEMORY_FRACTION * mem:
        raise ValueError(f"the input batches of one seed would take {per_seed / 2**30:.1f} GiB (--batch-size "
                         f"{data['batch_size']} x {data['channels']} ch x {data['resolution']}px x {num_batches} "
                         f"batch(es), float32), more than {MAX_BATCH_MEMORY_FRACTION:.0%} of this machine's "
                         f"{mem / 2**30:.1f} GiB; give a smaller --batch-size")


class SeedBatches(Mapping):
    """``seed -> [(x, y), ...]``: the input batches of each seed, drawn with that seed when first asked for.

    At most ``max_cached`` seeds' batches are held at once (least recently used dropped first), so memory does not
    grow with ``--seeds``; a dropped seed is drawn again, identically. Picklable (the cache is not pickled)."""

    def __init__(self, images, data: Mapping, seeds: Sequence[int], num_batches: int,
                 max_cached: int = CACHED_SEEDS):
        self.images = images
        self.params = {"batch_size": int(data["batch_size"]), "resolution": data["resolution"],
                       "channels": data["channels"], "balanced": bool(data["balanced"])}
        self.seeds = list(seeds)
        self.num_batches = int(num_batches)
        self.max_cached = max(1, int(max_cached))
        self.drawn = 0  # how many times a seed's batches were drawn (tests)
        self._seed_set = set(self.seeds)
        self._cache: dict[int, list] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_cache", "_lock")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._cache = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.seeds)

    def __iter__(self):
        return iter(self.seeds)

    def __contains__(self, seed: object) -> bool:
        return seed in self._seed_set

    def cached(self) -> list[int]:
        """The seeds whose batches are held now."""
        return list(self._cache)

    def __getitem__(self, seed: int) -> list:
        if seed not in self:
            raise KeyError(seed)
        from ..benchmarks import datasets as ds

        with self._lock:
            if seed in self._cache:
                self._cache[seed] = self._cache.pop(seed)  # most recently used last
                return self._cache[seed]
            out = ds.make_batches(self.images, self.params["batch_size"], self.num_batches, seed=int(seed),
                                  resolution=self.params["resolution"], channels=self.params["channels"],
                                  balanced=self.params["balanced"])
            self.drawn += 1
            self._cache[seed] = out
            while len(self._cache) > self.max_cached:
                self._cache.pop(next(iter(self._cache)))
            return out


def make_input_batches(images, data: dict, seeds: Sequence[int], num_batches: int) -> SeedBatches:
    """The input batches of every seed (drawn lazily, see :class:`SeedBatches`); refuses data whose labels do
    not fit the networks' outputs."""
    top = int(np.max(images.labels)) if len(images.labels) else -1
    if top >= data["num_classes"]:
        raise ValueError(f"data {data['dataset']!r} has labels up to {top}, but the benchmark's networks have "
                         f"{data['num_classes']} outputs; choose data with at most {data['num_classes']} classes")
    batches = SeedBatches(images, data, seeds, num_batches)
    if seeds:
        batches[seeds[0]]  # draw one seed now: a bad batch size or balance fails before anything is scored
    return batches


# ---- network and teacher -----------------------------------------------------------------------------------------
def resolve_network(metadata: Mapping, overrides: Mapping | None) -> dict:
    from ..initialization import INIT_SCHEMES

    net = dict(_DEFAULT_NETWORK)
    meta = metadata.get("network") if isinstance(metadata.get("network"), Mapping) else {}
    net.update({k: meta[k] for k in NETWORK_KEYS if k in meta})
    for key, value in dict(overrides or {}).items():
        if key not in NETWORK_KEYS:
            raise ValueError(f"unknown network setting {key!r}; valid: {', '.join(NETWORK_KEYS)}")
        net[key] = value
    net["C"] = _positive_int(net["C"], "network C (channels of the first stage)")
    net["N"] = _positive_int(net["N"], "network N (cells per stage)")
    if net["init"] not in INIT_SCHEMES:
        raise ValueError(f"unknown network init {net['init']!r}; valid: {', '.join(INIT_SCHEMES)}")
    return net


_CHECKPOINT_KEYS = ("checkpoint", "weights", "path", "file")


def teacher_spec_from_metadata(metadata: Mapping, gt_path: Path | None) -> str | None:
    """The benchmark's teacher as a spec string.

    ``metadata["teacher"]`` may be a spec string, or a dict with the trained weights under ``checkpoint``
    (a path relative to the benchmark file or the bundled data folder) and/or the architecture under
    ``spec`` / ``arch``. Without a ``checkpoint`` key, a file ``<benchmark file stem>.teacher.pt`` next to the
    benchmark file is used when present; otherwise the teacher is the architecture, randomly initialized."""
    from ..benchmarks.groundtruth import BUNDLED_DIR

    t = metadata.get("teacher")
    if not t:
        return None
    if isinstance(t, str):
        return t
    if not isinstance(t, Mapping):
        return None
    ckpt = next((t[k] for k in _CHECKPOINT_KEYS if t.get(k)), None)
    if ckpt is None and gt_path is not None and (gt_path.parent / f"{gt_path.stem}.teacher.pt").is_file():
        ckpt = gt_path.parent / f"{gt_path.stem}.teacher.pt"
    if ckpt:
        p = Path(str(ckpt)).expanduser()
        if not p.is_absolute():
            for base in ([gt_path.parent] if gt_path is not None else []) + [BUNDLED_DIR]:
                if (base / p).is_file():
                    p = base / p
                    break
        if not p.is_file():
            raise FileNotFoundError(f"the benchmark's teacher checkpoint {str(ckpt)!r} was found neither next to "
                                    "the benchmark file nor in the bundled data; pass --teacher SPEC")
        return f"checkpoint:{p}"
    spec = t.get("spec") or t.get("arch")
    return str(spec) if spec else None


def resolve_teacher(spec: str | None, num_classes: int, in_channels: int, seed: int):
    """Build the teacher once; returns (module or None, spec, identity dict, info dict)."""
    if spec is None or str(spec).strip().lower() in ("", "none"):
        return None, None, None, {"spec": None}
    from ..distill.teachers import build_teacher, describe, is_trained

    model = build_teacher(str(spec), num_classes=num_classes, in_channels=in_channels, seed=seed)
    model.eval()
    ident: dict[str, Any] = {"spec": getattr(model, "teacher_spec", str(spec))}
    text = str(spec).strip()
    if text.startswith("checkpoint:"):
        path = Path(text[len("checkpoint:"):].partition("@arch=")[0].strip()).expanduser()
        ident["checkpoint_sha256"] = _sha256(path)[:16]
        ident["checkpoint"] = path.name
    else:
        ident["seed"] = int(seed)
    info = {"spec": str(spec), "architecture": ident["spec"], "trained": bool(is_trained(model)),
            "description": describe(model)}
    return model, str(spec), ident, info


# ---- proxies -------------------------------------------------------------------------------------------------------
def proxy_groups() -> dict[str, list[str]]:
    """Every proxy group and its members, read from the registry: the groups proxies declare in their decorator
    (``default``, ``standard``), ``teacher`` (every proxy needing a teacher) and ``all``."""
    from ..proxies import proxy_groups as groups

    return groups()


def __getattr__(name: str):
    """``DEFAULT_PROXIES``, ``STANDARD_PROXIES`` and ``PROXY_GROUPS``, read from the registry on first use."""
    if name in ("DEFAULT_PROXIES", "STANDARD_PROXIES"):
        return tuple(proxy_groups()[name.split("_")[0].lower()])
    if name == "PROXY_GROUPS":
        return tuple(proxy_groups())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


def resolve_archs(archs: Any, arch_seed: int, available: Sequence[int]) -> tuple[list[tuple[int, str]], list[str]]:
    """The architectures of a run: ``N`` sampled with ``arch_seed`` from ``available`` (the benchmark's archs),
    ``"all"``, a sequence or comma-separated list of indices / arch strings, or the path of a file of them.

    Sampling takes the first N of one seeded permutation, so a larger N extends a smaller one."""
    from ..benchmarks import nb201

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
            return [(i, nb201.index_to_arch(i)) for i in pool], notes
        if text.isdigit():
            archs = int(text)
        elif Path(text).expanduser().is_file():
            items = _read_arch_file(Path(text).expanduser())
        elif "," in text and "|" not in text:
            items = [t.strip() for t in text.split(",") if t.strip()]
        elif text.startswith("|"):
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
        return [(i, nb201.index_to_arch(i)) for i in chosen], notes
    if items is None:
        if isinstance(archs, (list, tuple)):
            items = list(archs)
        else:
            raise ValueError(f"bad --archs {archs!r}: give N, 'all', a list of indices / arch strings or a file")
    out: list[tuple[int, str]] = []
    for item in items:
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


# ---- the plan ------------------------------------------------------------------------------------------------------
def make_plan(s: EvalSettings) -> Plan:
    """Check and resolve ``s`` (raises ``ValueError``/``FileNotFoundError`` naming the bad value)."""
    from ..proxies import check_options, get_spec

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
    gt = resolve_benchmark(s.benchmark)
    name = benchmark_name(gt, s.benchmark)
    meta = gt.metadata
    data = resolve_data(meta, gt.datasets(), s.data, s.data_root, batch_size, s.balanced)
    network = resolve_network(meta, parse_key_values(s.network, "network setting"))
    options = parse_key_values(s.options, "proxy option")
    check_option_names(options)  # a typo fails before any data is loaded
    seeds = list(range(seeds_n))

    images, dnotes = load_data(data)
    notes += dnotes
    # the teacher: given, else the benchmark's
    spec = s.teacher if s.teacher is not None else teacher_spec_from_metadata(meta, gt.path)
    teacher, spec, t_ident, t_info = resolve_teacher(spec, data["num_classes"], data["channels"], teacher_seed)
    if spec is not None:
        t_info["source"] = "--teacher" if s.teacher is not None else "benchmark"
        t_out = int(teacher.classifier.out_features)
        if t_out != data["num_classes"]:
            raise ValueError(f"teacher {spec!r} has {t_out} outputs but the data has {data['num_classes']} classes; "
                             "give a teacher for this data set")

    proxies, pnotes = resolve_proxies(s.proxies, teacher is not None)
    notes += pnotes
    check_options(proxies, options)
    n_batches = max(get_spec(p).batches for p in proxies)
    available = sorted(int(i) for i in gt.ground_truth["arch_index"].unique())
    archs, anotes = resolve_archs(s.archs, arch_seed, available)
    notes += anotes
    check_run_size(len(archs), len(seeds), data, n_batches)
    batches = make_input_batches(images, data, seeds, n_batches)
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
                 "arch_seed": arch_seed, "archs_arg": str(s.archs)}
    if s.out is None:
        out = None
    elif str(s.out) == "auto":
        out = default_out(name)
    else:
        out = Path(s.out).expanduser()
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {str(out)!r} exists and is not a directory")
        if out.is_dir() and any(out.iterdir()) and not (out / "store.sqlite").exists():
            raise ValueError(f"--out {str(out)!r} is a non-empty directory that holds no proxybench run (no "
                             "store.sqlite); give a new directory or an existing run directory to resume")
    return Plan(benchmark=gt, benchmark_name=name, proxies=proxies, archs=archs, seeds=seeds, data=data,
                network=network, teacher_spec=spec, teacher=teacher, teacher_info=t_info, batches=batches,
                device=device, options=options, formats=formats, out=out, identity=identity, selection=selection,
                warnings=notes)
