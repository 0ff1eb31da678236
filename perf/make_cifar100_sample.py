"""Build the bundled CIFAR-100 sample: the first 500 CIFAR-100 test images with their fine and coarse labels.

Usage: python perf/make_cifar100_sample.py [--src FILE] [--count N] [--out FILE]

Reads ``../shared/data/images/cifar100_test_916.npz`` (the first 916 images of the official CIFAR-100 test set,
``images_nchw`` uint8 and ``fine_labels`` / ``coarse_labels``) or a ``cifar-100-python`` folder (its ``test``
pickle), and writes a deflate-compressed .npz with ``images_nchw`` (uint8, N x 3 x 32 x 32), ``labels`` (uint8 fine
labels), ``coarse_labels`` (uint8), ``split`` and ``source``. The archive carries fixed timestamps, so re-running it
on the same input gives a byte-identical file (the same writer as perf/make_fashion_mnist_sample.py).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
from make_fashion_mnist_sample import write_npz

from proxybench.benchmarks.datasets import CIFAR100_SAMPLE_PATH, REGISTRY
from proxybench.benchmarks.datasets.images import _pickle_batch

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / ".." / "shared" / "data" / "images" / "cifar100_test_916.npz"


def read_source(src: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images N x 3 x 32 x 32 uint8, fine labels, coarse labels) in the test set's order."""
    if src.is_dir():
        path = src / "test" if (src / "test").is_file() else src / "cifar-100-python" / "test"
        images, fine = _pickle_batch(path, 32, "fine_labels")
        _, coarse = _pickle_batch(path, 32, "coarse_labels")
        return images, fine, coarse
    with np.load(src, allow_pickle=False) as z:
        return z["images_nchw"], z["fine_labels"], z["coarse_labels"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=SRC, help="cifar100_test_*.npz, or a cifar-100-python folder")
    parser.add_argument("--count", type=int, default=REGISTRY["cifar100-sample"].size("test"),
                        help="number of leading test images (default 500)")
    parser.add_argument("--out", type=Path, default=CIFAR100_SAMPLE_PATH, help="output .npz")
    args = parser.parse_args(argv)
    images, fine, coarse = read_source(args.src)
    if images.dtype != np.uint8 or images.shape[1:] != (3, 32, 32):
        parser.error(f"{args.src}: expected uint8 images of 3 x 32 x 32, got {images.dtype} {images.shape}")
    if not 1 <= args.count <= images.shape[0]:
        parser.error(f"--count must lie in 1..{images.shape[0]}, got {args.count}")
    n = args.count
    write_npz(args.out, {
        "images_nchw": np.ascontiguousarray(images[:n], dtype=np.uint8),
        "labels": np.ascontiguousarray(fine[:n], dtype=np.uint8),
        "coarse_labels": np.ascontiguousarray(coarse[:n], dtype=np.uint8),
        "split": np.array("test"),
        "source": np.array(f"CIFAR-100 test images 0..{n - 1} (Krizhevsky, 2009), fine and coarse labels"),
    })
    size = args.out.stat().st_size
    md5 = hashlib.md5(args.out.read_bytes(), usedforsecurity=False).hexdigest()
    counts = np.bincount(fine[:n], minlength=100)
    print(f"{args.out}: {n} images, {size:,} bytes compressed, md5 {md5}; fine-label counts min {counts.min()}, "
          f"max {counts.max()}, classes present {int((counts > 0).sum())} of 100")
    return 0


if __name__ == "__main__":
    sys.exit(main())
