"""The input data of a run: which images (:func:`resolve_data`), loading them (:func:`load_data`), the size limits
of a run, and the per-seed input batches drawn when needed (:class:`SeedBatches`)."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def resolve_data(metadata: Mapping, gt_datasets: Sequence[str], data: str | None, data_root: Any,
                 batch_size: int, balanced: bool) -> dict:
    """The data spec of a run: the data set the batches come from, its resolution, channels and classes.

    The benchmark's ``metadata["data"]`` wins; what it leaves out comes from the data set registry
    (:mod:`proxybench.benchmarks.datasets.registry`), for the benchmark's data set or the images used. Without
    ``data``, the images are the data set's bundled sample when it has one that the benchmark uses (every sample
    marked ``default_sample``, or the one ``metadata["data"]["sample"]`` names) and no ``data_root`` is given."""
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
    sample = next((d for d in ds.REGISTRY.values() if bench is not None and d.sample_of == bench.name
                   and (d.default_sample or spec.get("sample") == d.name)), None)
    root = None if data_root is None else str(Path(data_root).expanduser())
    if data is None:
        if bench is None:
            raise ValueError("no data set: pass --data NAME")
        if sample is not None and root is None:
            source, kind = sample.name, "sample"
            how = f"the bundled sample of {bench.title} (default; --data-root DIR reads the full data set)"
        else:
            source, kind = bench.name, "full"
            how = (f"the full {bench.title} data set, selected by --data-root (without it: the bundled sample "
                   f"{sample.name})" if sample is not None else f"the benchmark's data set, {bench.title}")
    elif str(data).lower().endswith(".npz"):
        if root is not None:
            raise ValueError(f"--data-root {root!r} contradicts --data {data!r}: an .npz file is read as given, "
                             "from no data root; drop --data-root, or give a data set name with --data")
        source, kind, how = str(Path(data).expanduser()), "file", "an .npz file given with --data"
    else:
        source = ds.canonical_name(data)
        given = ds.REGISTRY[source]
        if root is not None and given.layout in ("bundled", "generated"):
            what = "is bundled with proxybench" if given.layout == "bundled" else "is generated noise"
            full = f" (--data {given.sample_of} reads the full data set from it)" if given.sample_of else ""
            raise ValueError(f"--data-root {root!r} contradicts --data {data!r}: {given.name} {what} and reads no "
                             f"files; drop --data-root{full}")
        kind = {"bundled": "sample", "generated": "synthetic"}.get(given.layout, "full")
        how = f"{given.title}, given with --data"
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
           "root": root, "kind": kind, "selected": how,
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


def describe_data(data: Mapping) -> str:
    """Which images a run's batches come from, in one line: the data set, sample or full, how it was chosen,
    the number of images and where they were read from."""
    kind = {"sample": "bundled sample", "full": "full data set", "file": "file",
            "synthetic": "synthetic noise"}.get(data.get("kind"), data.get("kind") or "data")
    n = data.get("images")
    where = data.get("source")
    text = f"{data['dataset']} ({kind}, {data.get('split', 'test')} split"
    text += f", {n:,} images" if isinstance(n, int) else ""
    text += f", from {where})" if where and where != data["dataset"] else ")"
    return f"{text}: {data['selected']}" if data.get("selected") else text


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
