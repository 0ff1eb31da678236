"""Image data sets for proxy input batches: CIFAR-10/100, ImageNet16-120, Fashion-MNIST, a bundled sample, noise.

The package's parts:

* :mod:`.registry` -- one :class:`DatasetSpec` per data set (classes, shape, normalization, splits, file layout,
  downloads, aliases): the facts every other part reads;
* :mod:`.images` -- :class:`ImageSet` and the readers of the official formats (CIFAR pickles, ImageNet16 pickle
  batches, Fashion-MNIST IDX files, ``.npz`` exports);
* :mod:`.download` -- md5-verified downloads, written atomically;
* :mod:`.batches` -- :func:`to_tensor`, :func:`make_batch` and :func:`make_batches` (the only part needing torch,
  loaded on first use);
* this module -- finding a data set's files under a data root, :func:`download` and :func:`load_images` (with a
  small in-memory cache).

Data sets: ``cifar10``, ``cifar100``, ``imagenet16-120`` (its ``test`` split is ``val_data``, which NB201 halves
into its valid and test sets), ``fashion-mnist`` (Debian's ``dataset-fashion-mnist`` installs it under
/usr/share/datasets/fashion-mnist), ``fashion-mnist-sample`` and ``cifar100-sample`` (the first 1,000 Fashion-MNIST
and 500 CIFAR-100 test images, bundled as package data), ``synthetic`` (Gaussian noise, only when asked for by
name; a :class:`SyntheticDataWarning` is issued), or the path of an ``.npz`` file with ``images_nchw`` and ``labels``.

Data roots: an explicit ``root`` wins; otherwise Fashion-MNIST is looked for in :data:`FASHION_MNIST_SYSTEM_DIR`
and then in :func:`default_root`, every other data set in :func:`default_root` (``$PROXYBENCH_DATA``, or
``$XDG_CACHE_HOME/proxybench/data``, by default ~/.cache/proxybench/data). ``root`` may also name an ``.npz`` file.
"""

from __future__ import annotations

import collections
import os
import re
import threading
import warnings
from collections.abc import Callable, Sequence
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .download import extract, fetch, md5
from .images import ImageSet, make_set, read_files, read_idx, read_npz
from .registry import (
    DATASETS,
    IMAGE_SHAPES,
    NORMALIZATION,
    NPZ_PREFIXES,
    NUM_CLASSES,
    REGISTRY,
    SPLITS,
    DatasetSpec,
    RemoteFile,
    canonical_name,
    for_ground_truth,
    get_dataset,
)

if TYPE_CHECKING:
    from .batches import make_batch, make_batches, to_tensor

ENV_VAR = "PROXYBENCH_DATA"
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's ``dataset-fashion-mnist`` package installs the IDX files."""
DATA_DIR = Path(__file__).resolve().parent.parent / "data"
"""The package's data folder: the bundled samples (and benchmarks)."""
SAMPLE_PATH = DATA_DIR / "fashion_mnist_sample.npz"
CIFAR100_SAMPLE_PATH = DATA_DIR / "cifar100_sample.npz"
SYNTHETIC_SIZE = REGISTRY["synthetic"].size("test")  # images per split of the ``synthetic`` data set
SOURCES: dict[str, tuple[RemoteFile, ...]] = {s.name: s.downloads for s in REGISTRY.values() if s.downloads}
"""Where :func:`download` fetches each data set from (initially the specs' official locations and md5
checksums); replace an entry (e.g. in a test) to download elsewhere."""


class SyntheticDataWarning(UserWarning):
    """Issued whenever the ``synthetic`` (Gaussian noise) data set is used."""


def default_root() -> Path:
    """The data root used when none is given: ``$PROXYBENCH_DATA``, else ``$XDG_CACHE_HOME/proxybench/data``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "proxybench" / "data"


def _check_split(split: str) -> str:
    if not isinstance(split, str) or split.strip().lower() not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    return split.strip().lower()


# ---- finding the files -------------------------------------------------------------------------------------------
def _existing(folder: Path, name: str, spec: DatasetSpec) -> Path | None:
    for candidate in (name, name + ".gz") if spec.layout == "idx" else (name,):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def _bases(spec: DatasetSpec, root) -> list[Path]:
    if root is not None:
        return [Path(root).expanduser()]
    if spec.name == "fashion-mnist":
        return [FASHION_MNIST_SYSTEM_DIR, default_root()]
    return [default_root()]


def _download_target(spec: DatasetSpec, root) -> Path:
    if root is not None:
        return Path(root).expanduser()
    return default_root() / spec.download_folder if spec.download_folder else default_root()


def _how_to_obtain(spec: DatasetSpec) -> str:
    if spec.name == "fashion-mnist":
        return ("install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist; files "
                f"under {FASHION_MNIST_SYSTEM_DIR}), or {spec.obtain}")
    return spec.obtain


def _locate(spec: DatasetSpec, split: str, root, allow_download: bool) -> tuple[str, object]:
    """Find the files of one split: ``("files", [paths])`` or ``("npz", path)``; download when asked."""
    canon = spec.name
    stems = spec.files_for(split)
    searched: list[Path] = []
    partial: tuple[Path, list[str]] | None = None
    for base in _bases(spec, root):
        for folder in [base, *(base / sub for sub in spec.folders)]:
            searched.append(folder)
            found = [_existing(folder, s, spec) for s in stems]
            if all(found):
                return "files", found
            if any(found) and partial is None:
                partial = (folder, [s for s, f in zip(stems, found) if f is None])
        if partial is None and base.is_dir():  # an .npz export of this data set, e.g. cifar10_test_1017.npz
            prefixes = [p for p, c in NPZ_PREFIXES if c == canon]
            pat = re.compile(rf"^(?:{'|'.join(map(re.escape, prefixes))})[_\-]{split}(?:[_\-.].*)?\.npz$")
            hits = sorted(p for p in base.iterdir() if pat.match(p.name.lower()) and p.is_file())
            if len(hits) > 1:
                raise ValueError(f"several {canon} {split} .npz files in {base}: {', '.join(p.name for p in hits)}; "
                                 "pass one of them as root")
            if hits:
                return "npz", hits[0]
    if allow_download:
        if canon not in SOURCES:
            raise FileNotFoundError(f"cannot download {canon}: {_how_to_obtain(spec)}")
        download_dir = download(canon, root)
        found = [_existing(download_dir, s, spec) for s in stems]
        if all(found):
            return "files", found
        missing = [s for s, f in zip(stems, found) if f is None]
        raise ValueError(f"the downloaded {canon} data in {download_dir} lack {', '.join(missing)}")
    if partial is not None:
        folder, missing = partial
        paths = ", ".join(str(folder / m) for m in missing)
        raise FileNotFoundError(f"{canon} {split} split incomplete: missing {paths}; {_how_to_obtain(spec)}")
    where = ", ".join(str(p) for p in searched)
    raise FileNotFoundError(f"{canon} {split} split not found: no {stems[0]} in {where}; {_how_to_obtain(spec)}; "
                            f"choose the data root with root=... or ${ENV_VAR}")


def download(name: str, root=None, *, sources: Sequence[RemoteFile] | None = None, timeout: float = 60.0) -> Path:
    """Download (and unpack) a data set from :data:`SOURCES` into ``root``; returns the folder holding its files.

    Files already present with the right md5 are kept. Each file is streamed to a temporary file in the same
    folder and renamed only once its md5 matches, so no partial or unverified file ever has the final name; a
    mismatch raises ValueError naming the URL and both checksums.
    """
    spec = get_dataset(name)
    canon = spec.name
    if sources is None:
        if canon not in SOURCES:
            raise ValueError(f"no download for {canon}: {_how_to_obtain(spec)}" if spec.files else
                             f"no download for {canon}; downloadable: {', '.join(SOURCES)}")
        sources = SOURCES[canon]
    target = _download_target(spec, root)
    target.mkdir(parents=True, exist_ok=True)
    out = target
    for remote in sources:
        final = target / remote.filename
        if not (final.is_file() and md5(final) == remote.md5.lower()):
            fetch(remote, final, timeout)
        if remote.extract:
            out = extract(final, target, remote.extract)
    return out


# ---- loading (with a small in-memory cache) ------------------------------------------------------------------------
_CACHE: collections.OrderedDict = collections.OrderedDict()
_CACHE_SIZE = 4
_CACHE_LOCK = threading.Lock()


def clear_cache() -> None:
    """Forget the image sets kept in memory by :func:`load_images`."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _signature(paths: Sequence[Path]) -> tuple:
    out = []
    for p in paths:
        st = p.stat()
        out.append((str(p.resolve()), st.st_mtime_ns, st.st_size))
    return tuple(out)


def _cached(key: tuple, build: Callable[[], ImageSet]) -> ImageSet:
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    value = build()
    with _CACHE_LOCK:
        _CACHE[key] = value
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return value


def _synthetic(split: str) -> ImageSet:
    spec = REGISTRY["synthetic"]
    rng = np.random.default_rng([0x5EED, SPLITS.index(split)])
    z = rng.standard_normal((SYNTHETIC_SIZE, *spec.shape), dtype=np.float32)
    z *= 255.0 * spec.std[0]  # pixel = 255 * (mean + std * z), rounded and clipped to 0..255, in place
    z += 255.0 * spec.mean[0]
    np.rint(z, out=z)
    np.clip(z, 0, 255, out=z)
    images = z.astype(np.uint8)
    labels = rng.integers(0, spec.num_classes, SYNTHETIC_SIZE)
    return make_set(spec, split, images, labels, "synthetic")


def load_images(name, split: str = "test", root=None, download: bool = False) -> ImageSet:
    """Load one split of a data set as an :class:`ImageSet`.

    ``name``: one of :data:`DATASETS` (or an alias), or the path of an ``.npz`` file. ``root``: the data root
    (a folder, or an ``.npz`` file holding this split); see the module docstring for the defaults.
    ``download=True`` fetches CIFAR-10/100 or Fashion-MNIST from the official URLs when the files are missing.
    The ``synthetic`` set (Gaussian noise, 10,000 images of 3x32x32, 10 random labels) issues a
    :class:`SyntheticDataWarning`: proxy scores on noise are not comparable with published results.
    """
    split = _check_split(split)
    if isinstance(name, os.PathLike) or (isinstance(name, str) and name.lower().endswith(".npz")):
        path = Path(name).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"image file {path} does not exist")
        return _cached(("npz", None, split, _signature([path])), lambda: read_npz(path, None, split))
    spec = get_dataset(name)
    canon = spec.name
    if spec.layout == "generated":
        warnings.warn(f"dataset {canon!r} is Gaussian noise: proxy scores and correlations on it are not "
                      "comparable with results on real images", SyntheticDataWarning, stacklevel=2)
        return _cached((canon, split), lambda: _synthetic(split))
    if spec.layout == "bundled":
        full = REGISTRY[spec.sample_of]
        if split not in spec.splits:
            raise ValueError(f"{canon} holds only the {', '.join(map(repr, spec.splits))} split (the first "
                             f"{spec.size('test'):,} {full.title} test images)")
        path = SAMPLE_PATH if canon == "fashion-mnist-sample" else DATA_DIR / spec.files_for(split)[0]
        if not path.is_file():
            raise FileNotFoundError(f"bundled sample {path} is missing: {spec.obtain}")
        return _cached(("sample", canon, split, _signature([path])),
                       lambda: read_npz(path, full.name, split, name=canon))
    if root is not None and str(root).lower().endswith(".npz"):
        path = Path(root).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"image file {path} does not exist; {_how_to_obtain(spec)}")
        return _cached(("npz", canon, split, _signature([path])), lambda: read_npz(path, canon, split))
    kind, found = _locate(spec, split, root, download)
    if kind == "npz":
        return _cached(("npz", canon, split, _signature([found])), lambda: read_npz(found, canon, split))
    return _cached((canon, split, _signature(found)), lambda: read_files(spec, split, found))


# ---- torch-side names, loaded on first use -------------------------------------------------------------------------
_LAZY = ("make_batch", "make_batches", "to_tensor")


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(".batches", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "CIFAR100_SAMPLE_PATH", "DATASETS", "DATA_DIR", "ENV_VAR", "FASHION_MNIST_SYSTEM_DIR", "IMAGE_SHAPES",
    "NORMALIZATION", "NUM_CLASSES", "REGISTRY",
    "SAMPLE_PATH", "SOURCES", "SPLITS", "DatasetSpec", "ImageSet", "RemoteFile", "SyntheticDataWarning",
    "canonical_name", "clear_cache", "default_root", "download", "for_ground_truth", "get_dataset", "load_images",
    "make_batch", "make_batches", "read_idx", "to_tensor",
]
