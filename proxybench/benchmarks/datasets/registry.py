"""The registry of image data sets: one frozen :class:`DatasetSpec` per data set, the single source of its facts.

Classes, native shape, normalization constants, splits and their sizes, aliases, on-disk layout, official downloads,
how to obtain the files by hand, and the ground-truth dataset names whose networks saw these images. The loaders
(:mod:`proxybench.benchmarks.datasets`), ``proxybench list datasets`` and the evaluation plan
(:mod:`proxybench.engine.config`) all read these specs. Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class RemoteFile:
    """A file to download: tried from each URL in turn, verified against ``md5``; ``extract`` names the folder a
    tarball unpacks to (None: keep the file as is)."""

    filename: str
    md5: str
    urls: tuple[str, ...]
    extract: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """Everything proxybench knows about one image data set."""

    name: str
    """Canonical name (lower case)."""
    title: str
    """Display name, e.g. ``CIFAR-10``."""
    description: str
    """One line for ``proxybench list datasets``."""
    num_classes: int
    channels: int
    resolution: int
    """Native side length in pixels (images are square)."""
    mean: tuple[float, ...]
    """Per-channel mean on the 0..1 scale (the CIFAR and ImageNet16 values are NB201's, from xautodl)."""
    std: tuple[float, ...]
    """Per-channel standard deviation on the 0..1 scale."""
    split_sizes: tuple[tuple[str, int], ...]
    """``(split, images)`` for every split the data set has."""
    aliases: tuple[str, ...] = ()
    layout: str = ""
    """How the files are read: ``cifar-pickle``, ``imagenet16-pickle``, ``idx``, ``bundled`` or ``generated``."""
    label_key: str | None = None
    """Key of the labels in a pickle batch or an ``.npz`` export."""
    files: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """``(split, file names)``: the files one split needs (IDX files may also be gzipped: ``name.gz``); for a bundled
    sample, its ``.npz`` in the package's data folder."""
    folders: tuple[str, ...] = ()
    """Sub-folders of a data root that may hold the files (besides the root itself)."""
    npz_prefixes: tuple[str, ...] = ()
    """File-name prefixes of ``.npz`` exports of this data set, e.g. ``cifar10_test_1017.npz``."""
    downloads: tuple[RemoteFile, ...] = ()
    """Official download locations and md5 checksums (empty: no public direct download)."""
    download_folder: str = ""
    """Sub-folder of the data root that downloads go to when no root is given (tarballs unpack into their own)."""
    obtain: str = ""
    """How to get the files by hand."""
    benchmark_names: tuple[str, ...] = ()
    """Ground-truth dataset names (lower case) of networks trained on these images, e.g. NB201's
    ``cifar10-valid``."""
    sample_of: str | None = None
    """For a bundled sample: the data set it is drawn from (the default images of that data set's benchmarks,
    replaced by the full data set when a data root is given)."""
    default_sample: bool = True
    """For a bundled sample: whether every benchmark on ``sample_of`` uses it by default; when False, only those
    whose metadata names it (``metadata["data"]["sample"]``), so that older benchmarks keep their default images."""

    @property
    def shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        return self.channels, self.resolution, self.resolution

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(s for s, _ in self.split_sizes)

    def size(self, split: str) -> int | None:
        """Images in ``split`` (None when the data set lacks it)."""
        return dict(self.split_sizes).get(split)

    @property
    def train_size(self) -> int | None:
        return self.size("train")

    def files_for(self, split: str) -> tuple[str, ...]:
        """The file names ``split`` needs (empty for bundled and generated data)."""
        return dict(self.files).get(split, ())


def _scaled(*values: float) -> tuple[float, ...]:
    return tuple(v / 255 for v in values)


_S3_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_GITHUB_FASHION = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"
_FASHION_NORM = ((0.2860,), (0.3530,))
_CIFAR100_NORM = (_scaled(129.3, 124.1, 112.4), _scaled(68.2, 65.4, 70.4))
# Published checksums: https://www.cs.toronto.edu/~kriz/cifar.html, https://github.com/zalandoresearch/fashion-mnist
_SPECS = (
    DatasetSpec(
        name="cifar10", title="CIFAR-10", description="CIFAR-10 python pickles (cifar-10-batches-py)",
        num_classes=10, channels=3, resolution=32,
        mean=_scaled(125.3, 123.0, 113.9), std=_scaled(63.0, 62.1, 66.7),
        split_sizes=(("train", 50_000), ("test", 10_000)), aliases=("cifar-10",),
        layout="cifar-pickle", label_key="labels",
        files=(("train", tuple(f"data_batch_{i}" for i in range(1, 6))), ("test", ("test_batch",))),
        folders=("cifar-10-batches-py",), npz_prefixes=("cifar10",),
        downloads=(RemoteFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
                              ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",), "cifar-10-batches-py"),),
        obtain="download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and unpack it in the data root "
               "(it creates cifar-10-batches-py/), or pass download=True",
        benchmark_names=("cifar10", "cifar10-valid"),
    ),
    DatasetSpec(
        name="cifar100", title="CIFAR-100", description="CIFAR-100 python pickles (cifar-100-python), fine labels",
        num_classes=100, channels=3, resolution=32, mean=_CIFAR100_NORM[0], std=_CIFAR100_NORM[1],
        split_sizes=(("train", 50_000), ("test", 10_000)), aliases=("cifar-100",),
        layout="cifar-pickle", label_key="fine_labels",
        files=(("train", ("train",)), ("test", ("test",))),
        folders=("cifar-100-python",), npz_prefixes=("cifar100",),
        downloads=(RemoteFile("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85",
                              ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",), "cifar-100-python"),),
        obtain="download https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz and unpack it in the data root "
               "(it creates cifar-100-python/), or pass download=True",
        benchmark_names=("cifar100",),
    ),
    DatasetSpec(
        name="imagenet16-120", title="ImageNet16-120",
        description="NB201's 16x16 downsampled ImageNet, first 120 classes",
        num_classes=120, channels=3, resolution=16,
        mean=_scaled(122.68, 116.66, 104.01), std=_scaled(63.22, 61.26, 65.09),
        split_sizes=(("train", 151_700), ("test", 6_000)),
        aliases=("imagenet16", "imagenet-16-120", "imagenet16120"),
        layout="imagenet16-pickle", label_key="labels",
        files=(("train", tuple(f"train_data_batch_{i}" for i in range(1, 11))), ("test", ("val_data",))),
        folders=("ImageNet16", "imagenet16-120", "ImageNet16-120"),
        npz_prefixes=("imagenet16-120", "imagenet16_120", "imagenet16"),
        obtain="ImageNet16-120 has no public direct download URL: download the 16x16 downsampled ImageNet "
               "(Imagenet16_train.zip and Imagenet16_val.zip, Chrabaszcz et al. 2017) from "
               "https://image-net.org/download-images (registration required) and unpack train_data_batch_1..10 "
               "and val_data into the data root (NAS-Bench-201 keeps them in a folder named ImageNet16)",
        benchmark_names=("imagenet16-120",),
    ),
    DatasetSpec(
        name="fashion-mnist", title="Fashion-MNIST",
        description="Fashion-MNIST IDX files (Debian: /usr/share/datasets/fashion-mnist)",
        num_classes=10, channels=1, resolution=28, mean=_FASHION_NORM[0], std=_FASHION_NORM[1],
        split_sizes=(("train", 60_000), ("test", 10_000)), aliases=("fashionmnist", "fmnist", "f-mnist"),
        layout="idx", label_key="labels",
        files=(("train", ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")),
               ("test", ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))),
        folders=("fashion-mnist", "FashionMNIST/raw"), npz_prefixes=("fashion-mnist", "fashion_mnist", "fmnist"),
        downloads=tuple(
            RemoteFile(fn, md5, (_GITHUB_FASHION + fn, _S3_FASHION + fn)) for fn, md5 in (
                ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
                ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
                ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
            )),
        download_folder="fashion-mnist",
        obtain=f"download the four *-ubyte.gz files from {_GITHUB_FASHION} (mirror {_S3_FASHION}) into the data "
               "root, or pass download=True",
        benchmark_names=("fashion-mnist", "fashion-mnist-16"),
    ),
    DatasetSpec(
        name="fashion-mnist-sample", title="Fashion-MNIST sample",
        description="first 1,000 Fashion-MNIST test images, bundled with proxybench",
        num_classes=10, channels=1, resolution=28, mean=_FASHION_NORM[0], std=_FASHION_NORM[1],
        split_sizes=(("test", 1_000),), aliases=("fashionmnist-sample", "fmnist-sample", "f-mnist-sample"),
        layout="bundled", label_key="labels", files=(("test", ("fashion_mnist_sample.npz",)),),
        obtain="bundled with proxybench (proxybench/benchmarks/data/fashion_mnist_sample.npz); reinstall "
               "proxybench, or rebuild it with perf/make_fashion_mnist_sample.py",
        sample_of="fashion-mnist",
    ),
    DatasetSpec(
        name="cifar100-sample", title="CIFAR-100 sample",
        description="first 500 CIFAR-100 test images (fine labels), bundled with proxybench",
        num_classes=100, channels=3, resolution=32, mean=_CIFAR100_NORM[0], std=_CIFAR100_NORM[1],
        split_sizes=(("test", 500),), aliases=("cifar-100-sample",),
        layout="bundled", label_key="labels", files=(("test", ("cifar100_sample.npz",)),),
        obtain="bundled with proxybench (proxybench/benchmarks/data/cifar100_sample.npz); reinstall proxybench, "
               "or rebuild it with perf/make_cifar100_sample.py",
        sample_of="cifar100", default_sample=False,
    ),
    DatasetSpec(
        name="synthetic", title="synthetic", description="Gaussian noise; only when asked for; flagged in every report",
        num_classes=10, channels=3, resolution=32, mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2),
        split_sizes=(("train", 10_000), ("test", 10_000)), layout="generated",
    ),
)

REGISTRY: MappingProxyType[str, DatasetSpec] = MappingProxyType({s.name: s for s in _SPECS})
"""Canonical name -> :class:`DatasetSpec`."""

DATASETS: tuple[str, ...] = tuple(REGISTRY)
"""Canonical data set names accepted by the loaders (see :func:`canonical_name` for aliases)."""

SPLITS: tuple[str, ...] = ("train", "test")

ALIASES: MappingProxyType[str, str] = MappingProxyType({a: s.name for s in _SPECS for a in s.aliases})

NPZ_PREFIXES: tuple[tuple[str, str], ...] = tuple(sorted(((p, s.name) for s in _SPECS for p in s.npz_prefixes),
                                                        key=lambda t: -len(t[0])))
"""(file-name prefix, data set) of ``.npz`` exports, longest prefix first (``cifar100`` before ``cifar10``)."""

# read-only views, by canonical name
NORMALIZATION = MappingProxyType({s.name: (s.mean, s.std) for s in _SPECS})
NUM_CLASSES = MappingProxyType({s.name: s.num_classes for s in _SPECS})
IMAGE_SHAPES = MappingProxyType({s.name: s.shape for s in _SPECS})


def canonical_name(name: str) -> str:
    """The canonical name (one of :data:`DATASETS`) of a data set name or alias, case-insensitive."""
    if not isinstance(name, str):
        raise ValueError(f"dataset name must be a string, got {name!r}; valid names: {', '.join(DATASETS)}")
    key = re.sub(r"[\s_]+", "-", name.strip().lower())
    if key in REGISTRY:
        return key
    if key in ALIASES:
        return ALIASES[key]
    raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)} "
                     f"(aliases: {', '.join(sorted(ALIASES))}), or the path of an .npz file")


def get_dataset(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` of a data set name or alias."""
    return REGISTRY[canonical_name(name)]


def for_ground_truth(name: str) -> DatasetSpec | None:
    """The data set whose images the networks of a ground-truth dataset saw: NB201's ``cifar10-valid`` ->
    CIFAR-10, ``ImageNet16-120`` -> ImageNet16-120, a canonical name -> itself; None when unknown."""
    key = str(name).strip().lower()
    for spec in _SPECS:
        if key in spec.benchmark_names:
            return spec
    return REGISTRY.get(key)


__all__ = [
    "ALIASES", "DATASETS", "IMAGE_SHAPES", "NORMALIZATION", "NPZ_PREFIXES", "NUM_CLASSES", "REGISTRY", "SPLITS",
    "DatasetSpec", "RemoteFile", "canonical_name", "for_ground_truth", "get_dataset",
]
