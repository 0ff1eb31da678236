"""Tensors and batches from an :class:`~proxybench.benchmarks.datasets.ImageSet` (torch).

:func:`to_tensor` normalizes, resizes and replicates channels; :func:`make_batch` / :func:`make_batches` draw
deterministic (optionally class-balanced) batches.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ...checks import check_int
from . import load_images
from .images import ImageSet


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
    batch_size = check_int(batch_size, "batch_size", 1, expected="a positive integer")
    num_batches = check_int(num_batches, "num_batches", 1, expected="a positive integer")
    seed = check_int(seed, "seed", 0, expected="a non-negative integer")
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


__all__ = ["make_batch", "make_batches", "to_tensor"]
