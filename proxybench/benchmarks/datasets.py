"""Image data sets for proxy input batches: CIFAR-10/100, ImageNet16-120, Fashion-MNIST, a bundled sample, noise.

Readers for the official on-disk formats:

* CIFAR-10 / CIFAR-100: the python pickles of Krizhevsky (2009), folders ``cifar-10-batches-py``
  (``data_batch_1..5``, ``test_batch``) and ``cifar-100-python`` (``train``, ``test``; fine labels);
* ImageNet16-120: the 16x16 downsampled ImageNet of Chrabaszcz et al. (2017) in its pickle batches
  (``train_data_batch_1..10``, ``val_data``; ``data`` is (N, 3*16*16) uint8 channel-major, ``labels`` 1-based),
  restricted to labels 1..120 and shifted to 0-based, as NAS-Bench-201 (Dong & Yang, ICLR 2020) does;
  its ``test`` split here is ``val_data``, which NB201 halves into its valid and test sets;
* Fashion-MNIST (Xiao et al. 2017): IDX files, gzipped or not (Debian's ``dataset-fashion-mnist`` installs them
  under /usr/share/datasets/fashion-mnist);
* ``.npz`` files with ``images_nchw`` (uint8, N x C x H x W) and ``labels`` or ``fine_labels``;
* ``fashion-mnist-sample``: the first 1,000 Fashion-MNIST test images, bundled as package data;
* ``synthetic``: Gaussian noise, only when asked for by name (a :class:`SyntheticDataWarning` is issued).

:func:`load_images` returns an :class:`ImageSet` (uint8 images, int64 labels, NB201's normalization constants);
:func:`to_tensor` normalizes, resizes and replicates channels; :func:`make_batch` / :func:`make_batches` draw
deterministic (optionally class-balanced) batches. :func:`download` fetches CIFAR and Fashion-MNIST from their
official URLs, md5-verified and written atomically.

Data roots: an explicit ``root`` wins; otherwise Fashion-MNIST is looked for in /usr/share/datasets/fashion-mnist
and then in :func:`default_root`, every other data set in :func:`default_root` (``$PROXYBENCH_DATA``, or
``$XDG_CACHE_HOME/proxybench/data``, by default ~/.cache/proxybench/data). ``root`` may also name an ``.npz`` file.
"""

from __future__ import annotations

import collections
import gzip
import hashlib
import http.client
import os
import pickle
import re
import shutil
import struct
import tarfile
import tempfile
import threading
import urllib.error
import urllib.request
import warnings
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "DATASETS",
    "ENV_VAR",
    "FASHION_MNIST_SYSTEM_DIR",
    "IMAGE_SHAPES",
    "NORMALIZATION",
    "NUM_CLASSES",
    "SAMPLE_PATH",
    "SOURCES",
    "SPLITS",
    "ImageSet",
    "RemoteFile",
    "SyntheticDataWarning",
    "canonical_name",
    "clear_cache",
    "default_root",
    "download",
    "load_images",
    "make_batch",
    "make_batches",
    "read_idx",
    "to_tensor",
]

DATASETS: tuple[str, ...] = (
    "cifar10", "cifar100", "imagenet16-120", "fashion-mnist", "fashion-mnist-sample", "synthetic",
)
"""Canonical data set names accepted by :func:`load_images` (see :func:`canonical_name` for aliases)."""

SPLITS: tuple[str, ...] = ("train", "test")

_ALIASES: dict[str, str] = {
    "cifar-10": "cifar10",
    "cifar-100": "cifar100",
    "imagenet16": "imagenet16-120",
    "imagenet-16-120": "imagenet16-120",
    "imagenet16120": "imagenet16-120",
    "fashionmnist": "fashion-mnist",
    "fmnist": "fashion-mnist",
    "f-mnist": "fashion-mnist",
    "fashionmnist-sample": "fashion-mnist-sample",
    "fmnist-sample": "fashion-mnist-sample",
    "f-mnist-sample": "fashion-mnist-sample",
}

NORMALIZATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    # (mean, std) per channel on the 0..1 scale; the CIFAR and ImageNet16 values are NB201's (xautodl).
    "cifar10": (tuple(v / 255 for v in (125.3, 123.0, 113.9)), tuple(v / 255 for v in (63.0, 62.1, 66.7))),
    "cifar100": (tuple(v / 255 for v in (129.3, 124.1, 112.4)), tuple(v / 255 for v in (68.2, 65.4, 70.4))),
    "imagenet16-120": (tuple(v / 255 for v in (122.68, 116.66, 104.01)),
                       tuple(v / 255 for v in (63.22, 61.26, 65.09))),
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "fashion-mnist-sample": ((0.2860,), (0.3530,)),
    "synthetic": ((0.5, 0.5, 0.5), (0.2, 0.2, 0.2)),
}

NUM_CLASSES: dict[str, int] = {
    "cifar10": 10, "cifar100": 100, "imagenet16-120": 120, "fashion-mnist": 10, "fashion-mnist-sample": 10,
    "synthetic": 10,
}

IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {
    "cifar10": (3, 32, 32), "cifar100": (3, 32, 32), "imagenet16-120": (3, 16, 16), "fashion-mnist": (1, 28, 28),
    "fashion-mnist-sample": (1, 28, 28), "synthetic": (3, 32, 32),
}

ENV_VAR = "PROXYBENCH_DATA"
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
SAMPLE_PATH = Path(__file__).resolve().parent / "data" / "fashion_mnist_sample.npz"
SYNTHETIC_SIZE = 10_000  # images per split of the ``synthetic`` data set

_IMAGENET16_KEEP = 120  # NB201 keeps the first 120 of the 1,000 downsampled-ImageNet classes


class SyntheticDataWarning(UserWarning):
    """Issued whenever the ``synthetic`` (Gaussian noise) data set is used."""


# ---------------------------------------------------------------------------------------------------------------
# names, roots


def canonical_name(name: str) -> str:
    """The canonical name (one of :data:`DATASETS`) of a data set name or alias, case-insensitive."""
    if not isinstance(name, str):
        raise ValueError(f"dataset name must be a string, got {name!r}; valid names: {', '.join(DATASETS)}")
    key = re.sub(r"[\s_]+", "-", name.strip().lower())
    if key in DATASETS:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)} "
                     f"(aliases: {', '.join(sorted(_ALIASES))}), or the path of an .npz file")


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


# ---------------------------------------------------------------------------------------------------------------
# the image container


@dataclass(frozen=True, eq=False)
class ImageSet:
    """Images of one split of a data set.

    ``images``: uint8 (N, C, H, W); ``labels``: int64 (N,), 0-based; ``mean`` / ``std``: per-channel
    normalization constants on the 0..1 scale; ``source``: the file or folder read.
    """

    images: np.ndarray
    labels: np.ndarray
    num_classes: int
    name: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    split: str = "test"
    source: str = ""

    def __post_init__(self):
        imgs, labels = self.images, self.labels
        if not isinstance(imgs, np.ndarray) or imgs.dtype != np.uint8 or imgs.ndim != 4:
            raise ValueError(f"ImageSet {self.name!r}: images must be a uint8 array (N, C, H, W), got "
                             f"{getattr(imgs, 'dtype', type(imgs))} {getattr(imgs, 'shape', '')}")
        if not isinstance(labels, np.ndarray) or labels.dtype != np.int64 or labels.shape != (imgs.shape[0],):
            raise ValueError(f"ImageSet {self.name!r}: labels must be int64 of shape ({imgs.shape[0]},), got "
                             f"{getattr(labels, 'dtype', type(labels))} {getattr(labels, 'shape', '')}")
        if int(self.num_classes) < 1:
            raise ValueError(f"ImageSet {self.name!r}: num_classes must be >= 1, got {self.num_classes}")
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"ImageSet {self.name!r}: labels span {labels.min()}..{labels.max()}, outside "
                             f"0..{self.num_classes - 1}")
        mean, std = tuple(float(v) for v in self.mean), tuple(float(v) for v in self.std)
        if len(mean) != imgs.shape[1] or len(std) != imgs.shape[1] or min(std) <= 0:
            raise ValueError(f"ImageSet {self.name!r}: mean {mean} / std {std} must have one positive value per "
                             f"channel ({imgs.shape[1]})")
        object.__setattr__(self, "num_classes", int(self.num_classes))
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(int(v) for v in self.images.shape[1:])

    def __repr__(self) -> str:
        return (f"ImageSet(name={self.name!r}, split={self.split!r}, n={len(self)}, shape={self.shape}, "
                f"num_classes={self.num_classes}, source={self.source!r})")


def _make_set(canon: str, split: str, images: np.ndarray, labels: np.ndarray, source, *, name=None,
              num_classes=None, mean=None, std=None) -> ImageSet:
    images = np.ascontiguousarray(images, dtype=np.uint8)
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    images.flags.writeable = False  # cached and shared between callers
    labels.flags.writeable = False
    norm = NORMALIZATION.get(canon)
    return ImageSet(images=images, labels=labels, num_classes=num_classes or NUM_CLASSES[canon],
                    name=name or canon, mean=mean or norm[0], std=std or norm[1], split=split, source=str(source))


# ---------------------------------------------------------------------------------------------------------------
# low-level readers


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles only plain containers and numpy arrays (the content of the CIFAR / ImageNet16 batches)."""

    _ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),  # protocol-2 pickles written by Python 3 store bytes through it
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name} (only numpy arrays are accepted)")
        if module.startswith("numpy.core.") and np.lib.NumpyVersion(np.__version__) >= "2.0.0":
            module = "numpy._core." + module[len("numpy.core."):]
        return super().find_class(module, name)


def _load_pickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            obj = _NumpyOnlyUnpickler(f, encoding="latin1").load()
    except FileNotFoundError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            struct.error, MemoryError, OSError) as exc:
        raise ValueError(f"{path}: not a readable data-set pickle (truncated or corrupted?): {exc}") from exc
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a pickled dict, found {type(obj).__name__}")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _pickle_batch(path: Path, side: int, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    entry = _load_pickle(path)
    if "data" not in entry or label_key not in entry:
        raise ValueError(f"{path}: expected keys 'data' and '{label_key}', found {sorted(map(str, entry))}")
    data = entry["data"]
    per_image = 3 * side * side
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != per_image:
        raise ValueError(f"{path}: 'data' must be uint8 of shape (N, {per_image}), got "
                         f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}")
    try:
        labels = np.asarray(entry[label_key], dtype=np.int64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: '{label_key}' is not a list of integers: {exc}") from exc
    if labels.shape[0] != data.shape[0]:
        raise ValueError(f"{path}: {data.shape[0]} images but {labels.shape[0]} labels (truncated?)")
    return data.reshape(-1, 3, side, side), labels


_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path) -> np.ndarray:
    """Read an IDX file (LeCun's MNIST format), gzipped if its name ends in ``.gz``.

    Header: two zero bytes, a type code (0x08 = uint8, ...), the number of dimensions, then each dimension as a
    big-endian uint32; the data follow in C order.
    """
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as f:  # FileNotFoundError passes through
        try:
            raw = f.read()
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{path}: cannot decompress (truncated or corrupted gzip file): {exc}") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    dtype, ndim = np.dtype(_IDX_TYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{path}: truncated or corrupted IDX file: header {dims} announces {expected} data bytes, "
                         f"found {len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def _npz_split(arrays: dict, path: Path) -> str | None:
    if "split" in arrays:
        return str(arrays["split"]).strip().lower()
    m = re.search(r"(?:^|[_\-.])(train|test)(?:[_\-.]|$)", path.stem.lower())
    return m.group(1) if m else None


_NPZ_PREFIXES = (  # file-name prefixes that identify a data set, longest first
    ("fashion-mnist", "fashion-mnist"), ("fashion_mnist", "fashion-mnist"), ("fmnist", "fashion-mnist"),
    ("imagenet16-120", "imagenet16-120"), ("imagenet16_120", "imagenet16-120"), ("imagenet16", "imagenet16-120"),
    ("cifar100", "cifar100"), ("cifar10", "cifar10"),
)


def _read_npz(path: Path, canon: str | None, split: str, *, name: str | None = None) -> ImageSet:
    """Read an .npz with ``images_nchw`` and ``labels`` / ``fine_labels``; ``canon=None`` infers the data set."""
    if not path.is_file():
        raise FileNotFoundError(f"image file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
            file_split = _npz_split(arrays, path)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error, KeyError) as exc:
        raise ValueError(f"{path}: not a readable .npz file (truncated or corrupted?): {exc}") from exc
    if "images_nchw" not in arrays:
        raise ValueError(f"{path}: no 'images_nchw' array (found {sorted(arrays)})")
    if canon is None:
        stem = path.stem.lower()
        canon = next((c for p, c in _NPZ_PREFIXES if stem.startswith(p)), None)
        if canon is None and "fine_labels" in arrays:
            canon = "cifar100"
    order = ("fine_labels", "labels") if canon == "cifar100" else ("labels", "fine_labels")
    key = next((k for k in order if k in arrays), None)
    if key is None:
        raise ValueError(f"{path}: no 'labels' or 'fine_labels' array (found {sorted(arrays)})")
    images, labels = arrays["images_nchw"], arrays[key]
    if file_split is not None and file_split != split:
        raise ValueError(f"{path} holds the {file_split!r} split, not {split!r}")
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"{path}: 'images_nchw' must be uint8 (N, C, H, W), got {images.dtype} {images.shape}")
    labels = np.asarray(labels).reshape(-1)
    if not np.issubdtype(labels.dtype, np.integer) or labels.shape[0] != images.shape[0]:
        raise ValueError(f"{path}: '{key}' must hold {images.shape[0]} integer labels, got {labels.dtype} "
                         f"{labels.shape}")
    if canon is not None:
        want_c = IMAGE_SHAPES[canon][0]
        if images.shape[1] != want_c:
            raise ValueError(f"{path}: {canon} images have {want_c} channel(s), the file has {images.shape[1]}")
        return _make_set(canon, split, images, labels, path, name=name)
    # an unknown data set: classes from the labels, normalization from the images themselves
    flat = images.reshape(images.shape[0], images.shape[1], -1).astype(np.float64) / 255.0
    mean = tuple(flat.mean(axis=(0, 2)))
    std = tuple(s if s > 0 else 1.0 for s in flat.std(axis=(0, 2)))
    return _make_set("", split, images, labels, path, name=name or path.stem,
                     num_classes=int(labels.max()) + 1 if labels.size else 1, mean=mean, std=std)


# ---------------------------------------------------------------------------------------------------------------
# file layouts, locating, downloading


def _fashion_files(split: str) -> tuple[str, str]:
    prefix = "train" if split == "train" else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def _required_files(canon: str, split: str) -> list[str]:
    """Names of the files one split needs (Fashion-MNIST: stems, ``.gz`` optional)."""
    if canon == "cifar10":
        return [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    if canon == "cifar100":
        return [split]
    if canon == "imagenet16-120":
        return [f"train_data_batch_{i}" for i in range(1, 11)] if split == "train" else ["val_data"]
    if canon == "fashion-mnist":
        return list(_fashion_files(split))
    raise AssertionError(canon)


_SUBFOLDERS = {
    "cifar10": ("cifar-10-batches-py",),
    "cifar100": ("cifar-100-python",),
    "imagenet16-120": ("ImageNet16", "imagenet16-120", "ImageNet16-120"),
    "fashion-mnist": ("fashion-mnist", "FashionMNIST/raw"),
}


def _existing(folder: Path, stem: str, canon: str) -> Path | None:
    if canon == "fashion-mnist":
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
        return None
    return folder / stem if (folder / stem).is_file() else None


def _bases(canon: str, root) -> list[Path]:
    if root is not None:
        return [Path(root).expanduser()]
    if canon == "fashion-mnist":
        return [FASHION_MNIST_SYSTEM_DIR, default_root()]
    return [default_root()]


def _download_target(canon: str, root) -> Path:
    if root is not None:
        return Path(root).expanduser()
    return default_root() / "fashion-mnist" if canon == "fashion-mnist" else default_root()


def _how_to_obtain(canon: str) -> str:
    if canon == "fashion-mnist":
        return ("install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist; files "
                f"under {FASHION_MNIST_SYSTEM_DIR}), or download the four *-ubyte.gz files from "
                f"{_GITHUB_FASHION} (mirror {_S3_FASHION}) into the data root, or pass download=True")
    if canon in ("cifar10", "cifar100"):
        remote = SOURCES[canon][0]
        return (f"download {remote.urls[0]} and unpack it in the data root (it creates {remote.extract}/), "
                "or pass download=True")
    return ("ImageNet16-120 has no public direct download URL: download the 16x16 downsampled ImageNet "
            "(Imagenet16_train.zip and Imagenet16_val.zip, Chrabaszcz et al. 2017) from "
            "https://image-net.org/download-images (registration required) and unpack train_data_batch_1..10 "
            "and val_data into the data root (NAS-Bench-201 keeps them in a folder named ImageNet16)")


def _locate(canon: str, split: str, root, allow_download: bool) -> tuple[str, object]:
    """Find the files of one split: ``("files", [paths])`` or ``("npz", path)``; download when asked."""
    stems = _required_files(canon, split)
    searched: list[Path] = []
    partial: tuple[Path, list[str]] | None = None
    for base in _bases(canon, root):
        for folder in [base, *(base / sub for sub in _SUBFOLDERS[canon])]:
            searched.append(folder)
            found = [_existing(folder, s, canon) for s in stems]
            if all(found):
                return "files", found
            if any(found) and partial is None:
                partial = (folder, [s for s, f in zip(stems, found) if f is None])
        if partial is None and base.is_dir():  # an .npz export of this data set, e.g. cifar10_test_1017.npz
            prefixes = [p for p, c in _NPZ_PREFIXES if c == canon]
            pat = re.compile(rf"^(?:{'|'.join(map(re.escape, prefixes))})[_\-]{split}(?:[_\-.].*)?\.npz$")
            hits = sorted(p for p in base.iterdir() if pat.match(p.name.lower()) and p.is_file())
            if len(hits) > 1:
                raise ValueError(f"several {canon} {split} .npz files in {base}: {', '.join(p.name for p in hits)}; "
                                 "pass one of them as root")
            if hits:
                return "npz", hits[0]
    if allow_download:
        if canon not in SOURCES:
            raise FileNotFoundError(f"cannot download {canon}: {_how_to_obtain(canon)}")
        download_dir = download(canon, root)
        found = [_existing(download_dir, s, canon) for s in stems]
        if all(found):
            return "files", found
        missing = [s for s, f in zip(stems, found) if f is None]
        raise ValueError(f"the downloaded {canon} data in {download_dir} lack {', '.join(missing)}")
    if partial is not None:
        folder, missing = partial
        paths = ", ".join(str(folder / m) for m in missing)
        raise FileNotFoundError(f"{canon} {split} split incomplete: missing {paths}; {_how_to_obtain(canon)}")
    where = ", ".join(str(p) for p in searched)
    raise FileNotFoundError(f"{canon} {split} split not found: no {stems[0]} in {where}; {_how_to_obtain(canon)}; "
                            f"choose the data root with root=... or ${ENV_VAR}")


@dataclass(frozen=True)
class RemoteFile:
    """A file to download: tried from each URL in turn, verified against ``md5``; ``extract`` names the folder a
    tarball unpacks to (None: keep the file as is)."""

    filename: str
    md5: str
    urls: tuple[str, ...]
    extract: str | None = None


_S3_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_GITHUB_FASHION = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"

SOURCES: dict[str, tuple[RemoteFile, ...]] = {
    # Published checksums: https://www.cs.toronto.edu/~kriz/cifar.html, https://github.com/zalandoresearch/fashion-mnist
    "cifar10": (RemoteFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
                           ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",), "cifar-10-batches-py"),),
    "cifar100": (RemoteFile("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85",
                            ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",), "cifar-100-python"),),
    "fashion-mnist": tuple(
        RemoteFile(fn, md5, (_GITHUB_FASHION + fn, _S3_FASHION + fn)) for fn, md5 in (
            ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
            ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
            ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
        )
    ),
}
"""Official download locations and md5 checksums; replace an entry (e.g. in a test) to download elsewhere."""


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(remote: RemoteFile, final: Path, timeout: float) -> None:
    """Download ``remote`` to ``final``: streamed to a temporary file beside it, md5-checked, then renamed."""
    errors = []
    for url in remote.urls:
        fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            digest = hashlib.md5(usedforsecurity=False)
            with os.fdopen(fd, "wb") as out:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    for chunk in iter(lambda resp=resp: resp.read(1 << 20), b""):
                        digest.update(chunk)
                        out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            actual = digest.hexdigest()
            if actual != remote.md5.lower():
                raise ValueError(f"checksum mismatch for {url}: expected md5 {remote.md5}, got {actual}; the "
                                 f"download was discarded and {final} was not written")
            os.replace(tmp, final)
            return
        except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as exc:
            errors.append(f"{url}: {getattr(exc, 'reason', exc)}")
        finally:
            tmp.unlink(missing_ok=True)
    raise ConnectionError(f"could not download {remote.filename} ({'; '.join(errors)}); fetch it by hand and place "
                          f"it at {final}")


def _extract(archive: Path, target: Path, folder: str) -> Path:
    """Unpack the regular files under ``folder/`` of a tarball into ``target/folder``, each file atomically."""
    tmpdir = Path(tempfile.mkdtemp(dir=target, prefix=f".{folder}.", suffix=".extract"))
    try:
        moved = []
        try:
            with tarfile.open(archive, "r:*") as tar:
                for member in tar:
                    parts = PurePosixPath(member.name).parts
                    if member.name.startswith("/") or ".." in parts:
                        raise ValueError(f"{archive}: unsafe member path {member.name!r}")
                    if len(parts) < 2 or parts[0] != folder or not member.isfile():
                        continue
                    rel = Path(*parts[1:])
                    (tmpdir / rel).parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(member) as src, open(tmpdir / rel, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    moved.append(rel)
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise ValueError(f"{archive}: cannot extract (truncated or corrupted archive?): {exc}") from exc
        if not moved:
            raise ValueError(f"{archive}: holds no files under {folder}/")
        dest = target / folder
        for rel in moved:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmpdir / rel, dest / rel)
        return dest
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def download(name: str, root=None, *, sources: Sequence[RemoteFile] | None = None, timeout: float = 60.0) -> Path:
    """Download (and unpack) a data set from :data:`SOURCES` into ``root``; returns the folder holding its files.

    Files already present with the right md5 are kept. Each file is streamed to a temporary file in the same
    folder and renamed only once its md5 matches, so no partial or unverified file ever has the final name; a
    mismatch raises ValueError naming the URL and both checksums.
    """
    canon = canonical_name(name)
    if sources is None:
        if canon not in SOURCES:
            raise ValueError(f"no download for {canon}: {_how_to_obtain(canon)}" if canon == "imagenet16-120" else
                             f"no download for {canon}; downloadable: {', '.join(SOURCES)}")
        sources = SOURCES[canon]
    target = _download_target(canon, root)
    target.mkdir(parents=True, exist_ok=True)
    out = target
    for remote in sources:
        final = target / remote.filename
        if not (final.is_file() and _md5(final) == remote.md5.lower()):
            _fetch(remote, final, timeout)
        if remote.extract:
            out = _extract(final, target, remote.extract)
    return out


# ---------------------------------------------------------------------------------------------------------------
# loading (with a small in-memory cache)

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


def _read_files(canon: str, split: str, files: list[Path]) -> ImageSet:
    source = files[0].parent
    if canon in ("cifar10", "cifar100"):
        key = "labels" if canon == "cifar10" else "fine_labels"
        parts = [_pickle_batch(p, 32, key) for p in files]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        bad = (labels < 0) | (labels >= NUM_CLASSES[canon])
        if bad.any():
            raise ValueError(f"{source}: {canon} labels must lie in 0..{NUM_CLASSES[canon] - 1}, found "
                             f"{labels[bad][0]}")
        return _make_set(canon, split, images, labels, source)
    if canon == "imagenet16-120":
        images, labels = [], []
        for p in files:
            data, lab = _pickle_batch(p, 16, "labels")
            if lab.size and lab.min() < 1:
                raise ValueError(f"{p}: ImageNet16 labels are 1-based, found {lab.min()}")
            keep = lab <= _IMAGENET16_KEEP
            images.append(data[keep])
            labels.append(lab[keep] - 1)
        return _make_set(canon, split, np.concatenate(images), np.concatenate(labels), source)
    if canon == "fashion-mnist":
        img_path, lab_path = files
        images, labels = read_idx(img_path), read_idx(lab_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(f"{img_path}: expected uint8 images (N, H, W), got {images.dtype} {images.shape}")
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise ValueError(f"{lab_path}: expected {images.shape[0]} labels, got shape {labels.shape}")
        if labels.size and labels.max() >= 10:
            raise ValueError(f"{lab_path}: Fashion-MNIST labels must lie in 0..9, found {labels.max()}")
        return _make_set(canon, split, images[:, None], labels, source)
    raise AssertionError(canon)


def _synthetic(split: str) -> ImageSet:
    rng = np.random.default_rng([0x5EED, SPLITS.index(split)])
    c, h, w = IMAGE_SHAPES["synthetic"]
    z = rng.standard_normal((SYNTHETIC_SIZE, c, h, w), dtype=np.float32)
    mean, std = NORMALIZATION["synthetic"]
    z *= 255.0 * std[0]  # pixel = 255 * (mean + std * z), rounded and clipped to 0..255, in place
    z += 255.0 * mean[0]
    np.rint(z, out=z)
    np.clip(z, 0, 255, out=z)
    images = z.astype(np.uint8)
    labels = rng.integers(0, NUM_CLASSES["synthetic"], SYNTHETIC_SIZE)
    return _make_set("synthetic", split, images, labels, "synthetic")


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
        return _cached(("npz", None, split, _signature([path])), lambda: _read_npz(path, None, split))
    canon = canonical_name(name)
    if canon == "synthetic":
        warnings.warn("dataset 'synthetic' is Gaussian noise: proxy scores and correlations on it are not "
                      "comparable with results on real images", SyntheticDataWarning, stacklevel=2)
        return _cached(("synthetic", split), lambda: _synthetic(split))
    if canon == "fashion-mnist-sample":
        if split != "test":
            raise ValueError("fashion-mnist-sample holds only the 'test' split (the first 1,000 Fashion-MNIST "
                             "test images)")
        if not SAMPLE_PATH.is_file():
            raise FileNotFoundError(f"bundled sample {SAMPLE_PATH} is missing: reinstall proxybench, or rebuild it "
                                    "with perf/make_fashion_mnist_sample.py")
        return _cached(("sample", split, _signature([SAMPLE_PATH])),
                       lambda: _read_npz(SAMPLE_PATH, "fashion-mnist", split, name="fashion-mnist-sample"))
    if root is not None and str(root).lower().endswith(".npz"):
        path = Path(root).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"image file {path} does not exist; {_how_to_obtain(canon)}")
        return _cached(("npz", canon, split, _signature([path])), lambda: _read_npz(path, canon, split))
    kind, found = _locate(canon, split, root, download)
    if kind == "npz":
        return _cached(("npz", canon, split, _signature([found])), lambda: _read_npz(found, canon, split))
    return _cached((canon, split, _signature(found)), lambda: _read_files(canon, split, found))


# ---------------------------------------------------------------------------------------------------------------
# tensors and batches


def _check_resolution(resolution) -> tuple[int, int] | None:
    if resolution is None:
        return None
    vals = (resolution, resolution) if isinstance(resolution, (int, np.integer)) else resolution
    ok = (isinstance(vals, (tuple, list)) and len(vals) == 2
          and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in vals))
    if isinstance(resolution, bool) or not ok:
        raise ValueError(f"resolution must be a positive int or a (height, width) pair, got {resolution!r}")
    return int(vals[0]), int(vals[1])


def _check_channels(channels) -> int | None:
    if channels is None:
        return None
    if isinstance(channels, bool) or channels not in (1, 3):
        raise ValueError(f"channels must be None, 1 or 3, got {channels!r}")
    return int(channels)


def _convert(images: np.ndarray, mean, std, size, channels, normalize: bool) -> torch.Tensor:
    x = torch.from_numpy(images.astype(np.float32)).div_(255.0)
    c = x.shape[1]
    if channels is not None and channels != c:
        if c != 1:
            raise ValueError(f"cannot turn {c}-channel images into {channels} channel(s); only grayscale images "
                             "can be replicated to 3 channels")
        x = x.expand(-1, channels, -1, -1)
        mean, std = tuple(mean) * channels, tuple(std) * channels
    if size is not None and tuple(x.shape[-2:]) != size:
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    if normalize:
        m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        x = (x - m) / s
    return x.contiguous()


def to_tensor(imageset: ImageSet, resolution=None, channels=None, normalize: bool = True) -> torch.Tensor:
    """All images of ``imageset`` as float32 (N, C', H', W').

    Pixels are scaled to 0..1; ``channels=3`` replicates grayscale images to 3 channels; ``resolution`` (int or
    (H, W)) resizes with antialiased bilinear interpolation; ``normalize`` subtracts the data set's per-channel
    mean and divides by its std (NB201's constants).
    """
    if not isinstance(imageset, ImageSet):
        raise ValueError(f"to_tensor expects an ImageSet (from load_images), got {type(imageset).__name__}")
    return _convert(imageset.images, imageset.mean, imageset.std, _check_resolution(resolution),
                    _check_channels(channels), normalize)


def _check_count(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _draw(ds: ImageSet, batch_size: int, num_batches: int, seed: int, balanced: bool) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    n, what = len(ds), f"{ds.name} ({ds.split}, {len(ds)} images)"
    if not balanced:
        if batch_size * num_batches > n:
            raise ValueError(f"{num_batches} batch(es) of {batch_size} need {batch_size * num_batches} distinct "
                             f"images; {what} has only {n}")
        perm = rng.permutation(n)
        return [perm[b * batch_size:(b + 1) * batch_size] for b in range(num_batches)]
    k = ds.num_classes
    if batch_size % k:
        lo = batch_size // k * k
        hint = f"{lo} or {lo + k}" if lo else f"{k}"
        raise ValueError(f"balanced batches need batch_size divisible by the {k} classes of {ds.name}; got "
                         f"{batch_size} (try {hint})")
    per = batch_size // k
    counts = np.bincount(ds.labels, minlength=k)
    short = np.flatnonzero(counts < per * num_batches)
    if short.size:
        c = int(short[0])
        raise ValueError(f"balanced batches need {per * num_batches} images per class; class {c} of {what} has "
                         f"{counts[c]} ({short.size} class(es) short)")
    order = np.argsort(ds.labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    chosen = np.stack([rng.permutation(order[starts[c]:starts[c] + counts[c]])[:per * num_batches]
                       for c in range(k)])  # (k, per * num_batches)
    return [rng.permutation(chosen[:, b * per:(b + 1) * per].reshape(-1)) for b in range(num_batches)]


def make_batches(name, batch_size: int, num_batches: int, seed: int = 0, *, split: str = "test", root=None,
                 resolution=None, channels=None, balanced: bool = False, download: bool = False
                 ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``num_batches`` disjoint batches ``(x, y)`` drawn without replacement with ``numpy.random.default_rng(seed)``.

    ``name``: a data set name (see :func:`load_images`) or an :class:`ImageSet`. ``balanced=True`` takes
    ``batch_size / num_classes`` images of every class per batch, then shuffles the batch: the class-balanced
    batches of GraSP (Wang et al., ICLR 2020), the ``grasp`` data loading of the zero-cost proxies of Abdelfattah
    et al. (ICLR 2021); ``batch_size`` must then be a multiple of the number of classes.
    ``x``: float32 (B, C', H', W') as from :func:`to_tensor`; ``y``: int64 (B,).
    """
    batch_size = _check_count(batch_size, "batch_size")
    num_batches = _check_count(num_batches, "num_batches")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    size, channels = _check_resolution(resolution), _check_channels(channels)
    ds = name if isinstance(name, ImageSet) else load_images(name, split=split, root=root, download=download)
    out = []
    for idx in _draw(ds, batch_size, num_batches, int(seed), balanced):
        x = _convert(ds.images[idx], ds.mean, ds.std, size, channels, True)
        out.append((x, torch.from_numpy(ds.labels[idx].astype(np.int64))))
    return out


def make_batch(name, batch_size: int, seed: int = 0, *, split: str = "test", root=None, resolution=None,
               channels=None, balanced: bool = False, download: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch ``(x, y)``, deterministic by ``seed``: the first batch of :func:`make_batches`."""
    return make_batches(name, batch_size, 1, seed, split=split, root=root, resolution=resolution,
                        channels=channels, balanced=balanced, download=download)[0]
