"""Image containers and readers of the on-disk formats (NumPy only).

* CIFAR-10 / CIFAR-100: the python pickles of Krizhevsky (2009) (``data_batch_1..5``, ``test_batch``;
  ``train``, ``test`` with fine labels);
* ImageNet16-120: the 16x16 downsampled ImageNet of Chrabaszcz et al. (2017) in its pickle batches
  (``train_data_batch_1..10``, ``val_data``; ``data`` is (N, 3*16*16) uint8 channel-major, ``labels`` 1-based),
  restricted to labels 1..120 and shifted to 0-based, as NAS-Bench-201 (Dong & Yang, ICLR 2020) does;
* Fashion-MNIST (Xiao et al. 2017): IDX files, gzipped or not;
* ``.npz`` files with ``images_nchw`` (uint8, N x C x H x W) and ``labels`` or ``fine_labels``.

Pickles are read with an unpickler that accepts only plain containers and numpy arrays.
"""

from __future__ import annotations

import gzip
import pickle
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .registry import NPZ_PREFIXES, REGISTRY, DatasetSpec


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


def make_set(spec: DatasetSpec | None, split: str, images: np.ndarray, labels: np.ndarray, source, *, name=None,
             num_classes=None, mean=None, std=None) -> ImageSet:
    """An :class:`ImageSet` with the facts of ``spec`` (overridable); the arrays are made read-only, since loaded
    sets are cached and shared."""
    images = np.ascontiguousarray(images, dtype=np.uint8)
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    images.flags.writeable = False
    labels.flags.writeable = False
    return ImageSet(images=images, labels=labels, num_classes=num_classes or spec.num_classes,
                    name=name or spec.name, mean=mean or spec.mean, std=std or spec.std, split=split,
                    source=str(source))


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


def read_npz(path: Path, canon: str | None, split: str, *, name: str | None = None) -> ImageSet:
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
        canon = next((c for p, c in NPZ_PREFIXES if stem.startswith(p)), None)
        if canon is None and "fine_labels" in arrays:
            canon = "cifar100"
    spec = REGISTRY[canon] if canon is not None else None
    order = ("fine_labels", "labels") if spec is not None and spec.label_key == "fine_labels" else ("labels",
                                                                                                     "fine_labels")
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
    if spec is not None:
        if images.shape[1] != spec.channels:
            raise ValueError(f"{path}: {canon} images have {spec.channels} channel(s), the file has "
                             f"{images.shape[1]}")
        return make_set(spec, split, images, labels, path, name=name)
    # an unknown data set: classes from the labels, normalization from the images themselves
    flat = images.reshape(images.shape[0], images.shape[1], -1).astype(np.float64) / 255.0
    mean = tuple(flat.mean(axis=(0, 2)))
    std = tuple(s if s > 0 else 1.0 for s in flat.std(axis=(0, 2)))
    return make_set(None, split, images, labels, path, name=name or path.stem,
                     num_classes=int(labels.max()) + 1 if labels.size else 1, mean=mean, std=std)


def read_files(spec: DatasetSpec, split: str, files: list[Path]) -> ImageSet:
    """One split of a data set from its files in the official layout (``spec.layout``)."""
    source = files[0].parent
    canon = spec.name
    if spec.layout == "cifar-pickle":
        parts = [_pickle_batch(p, spec.resolution, spec.label_key) for p in files]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        bad = (labels < 0) | (labels >= spec.num_classes)
        if bad.any():
            raise ValueError(f"{source}: {canon} labels must lie in 0..{spec.num_classes - 1}, found "
                             f"{labels[bad][0]}")
        return make_set(spec, split, images, labels, source)
    if spec.layout == "imagenet16-pickle":
        images, labels = [], []
        for p in files:
            data, lab = _pickle_batch(p, spec.resolution, spec.label_key)
            if lab.size and lab.min() < 1:
                raise ValueError(f"{p}: ImageNet16 labels are 1-based, found {lab.min()}")
            keep = lab <= spec.num_classes  # NB201 keeps the first 120 of the 1,000 downsampled-ImageNet classes
            images.append(data[keep])
            labels.append(lab[keep] - 1)
        return make_set(spec, split, np.concatenate(images), np.concatenate(labels), source)
    if spec.layout == "idx":
        img_path, lab_path = files
        images, labels = read_idx(img_path), read_idx(lab_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(f"{img_path}: expected uint8 images (N, H, W), got {images.dtype} {images.shape}")
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise ValueError(f"{lab_path}: expected {images.shape[0]} labels, got shape {labels.shape}")
        if labels.size and labels.max() >= spec.num_classes:
            raise ValueError(f"{lab_path}: Fashion-MNIST labels must lie in 0..{spec.num_classes - 1}, found "
                             f"{labels.max()}")
        return make_set(spec, split, images[:, None], labels, source)
    raise AssertionError(spec.layout)


__all__ = ["ImageSet", "make_set", "read_files", "read_idx", "read_npz"]
