"""Build the bundled Fashion-MNIST sample: the first 1,000 test images (t10k) with their labels.

Usage: python perf/make_fashion_mnist_sample.py [--src DIR] [--count N] [--out FILE]

Reads the IDX files installed by Debian's ``dataset-fashion-mnist`` (or any folder holding
t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]) and writes a deflate-compressed .npz with
``images_nchw`` (uint8, N x 1 x 28 x 28), ``labels`` (uint8), ``split`` and ``source``. The archive carries fixed
timestamps, so re-running it on the same input gives a byte-identical file.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

from proxybench.benchmarks.datasets import FASHION_MNIST_SYSTEM_DIR, SAMPLE_PATH, read_idx
from proxybench.io import atomic_open


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"no {stem}[.gz] in {folder}; install the Debian package dataset-fashion-mnist")


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as an .npz (deflate level 9, fixed timestamps), atomically."""
    with atomic_open(path, "wb") as fh, zipfile.ZipFile(fh, "w") as zf:
        for key, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue(), compresslevel=9)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=FASHION_MNIST_SYSTEM_DIR, help="folder with the t10k IDX files")
    parser.add_argument("--count", type=int, default=1000, help="number of leading test images (default 1000)")
    parser.add_argument("--out", type=Path, default=SAMPLE_PATH, help="output .npz")
    args = parser.parse_args(argv)
    images = read_idx(_find(args.src, "t10k-images-idx3-ubyte"))
    labels = read_idx(_find(args.src, "t10k-labels-idx1-ubyte"))
    if not 1 <= args.count <= images.shape[0]:
        parser.error(f"--count must lie in 1..{images.shape[0]}, got {args.count}")
    n = args.count
    write_npz(args.out, {
        "images_nchw": np.ascontiguousarray(images[:n, None], dtype=np.uint8),
        "labels": np.ascontiguousarray(labels[:n], dtype=np.uint8),
        "split": np.array("test"),
        "source": np.array(f"Fashion-MNIST t10k images 0..{n - 1} (Zalando Research, MIT licence)"),
    })
    raw = n * images.shape[1] * images.shape[2] + n
    size = args.out.stat().st_size
    md5 = hashlib.md5(args.out.read_bytes(), usedforsecurity=False).hexdigest()
    print(f"{args.out}: {n} images, {size:,} bytes compressed ({raw:,} bytes of pixels and labels), md5 {md5}; "
          f"class counts {np.bincount(labels[:n], minlength=10).tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
