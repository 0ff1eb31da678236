"""Image data sets: official-format readers, normalization, batches, the bundled sample, downloads on loopback."""

from __future__ import annotations

import collections
import functools
import gzip
import hashlib
import http.server
import io
import os
import pickle
import struct
import tarfile
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from proxybench.benchmarks import datasets as ds

SHARED_IMAGES = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "images"
FASHION_SYSTEM = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def ds_isolated(tmp_path, monkeypatch):
    """Every test starts with an empty cache and a data root of its own (never the user's)."""
    ds.clear_cache()
    monkeypatch.setenv(ds.ENV_VAR, str(tmp_path / "default-root"))
    yield
    ds.clear_cache()


# ---------------------------------------------------------------------------------------------------------------
# miniature files in the official formats


def _rng_images(rng, n, c, side):
    return rng.integers(0, 256, (n, c * side * side), dtype=np.uint8)


def _dump(path: Path, obj, protocol=2):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)


def write_cifar10(folder: Path, n=6, seed=0, bytes_keys=False):
    """cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}; returns {file: (data, labels)}."""
    rng = np.random.default_rng(seed)
    out = {}
    for fname in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = _rng_images(rng, n, 3, 32)
        labels = [int(v) for v in rng.integers(0, 10, n)]
        entry = {"batch_label": f"{fname} of 6", "labels": labels, "data": data,
                 "filenames": [f"img_{i}.png" for i in range(n)]}
        if bytes_keys:
            entry = {k.encode(): v for k, v in entry.items()}
        _dump(folder / fname, entry)
        out[fname] = (data, labels)
    _dump(folder / "batches.meta", {"label_names": [f"c{i}" for i in range(10)], "num_cases_per_batch": n,
                                    "num_vis": 3072})
    return out


def write_cifar100(folder: Path, n=8, seed=1):
    rng = np.random.default_rng(seed)
    out = {}
    for fname in ("train", "test"):
        data = _rng_images(rng, n, 3, 32)
        fine = [int(v) for v in rng.integers(0, 100, n)]
        coarse = [f // 5 for f in fine]
        _dump(folder / fname, {"filenames": [f"x{i}.png" for i in range(n)], "batch_label": fname,
                               "fine_labels": fine, "coarse_labels": coarse, "data": data})
        out[fname] = (data, fine)
    return out


def write_imagenet16(folder: Path, n=12, seed=2):
    """train_data_batch_1..10 and val_data; labels 1..1000 with a share above 120 (dropped by the reader)."""
    rng = np.random.default_rng(seed)
    out = {}
    for fname in [f"train_data_batch_{i}" for i in range(1, 11)] + ["val_data"]:
        data = _rng_images(rng, n, 3, 16)
        labels = [int(v) for v in rng.integers(1, 241, n)]
        labels[0], labels[1] = 1, 120  # the edges of the kept range
        entry = {"data": data, "labels": labels}
        if fname != "val_data":
            entry["mean"] = data.mean(axis=0)
        _dump(folder / fname, entry, protocol=4)
        out[fname] = (data, labels)
    return out


def idx_bytes(arr: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(np.uint8).tobytes()


def write_fashion(folder: Path, n_train=20, n_test=10, gz=True, seed=3):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{prefix}-{kind}-ubyte"
            raw = idx_bytes(arr)
            if gz:
                (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
            else:
                (folder / name).write_bytes(raw)
        out[prefix] = (images, labels)
    return out


def tar_folder(src: Path, folder: str, archive: Path, extra: dict[str, bytes] | None = None):
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / folder, arcname=folder)
        for name, payload in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# names


def test_names_and_aliases():
    assert ds.DATASETS == ("cifar10", "cifar100", "imagenet16-120", "fashion-mnist", "fashion-mnist-sample",
                           "cifar100-sample", "synthetic")
    for alias, canon in [("CIFAR10", "cifar10"), ("cifar-100", "cifar100"), ("ImageNet16-120", "imagenet16-120"),
                         ("imagenet16_120", "imagenet16-120"), ("fmnist", "fashion-mnist"),
                         ("Fashion_MNIST", "fashion-mnist"), ("FashionMNIST", "fashion-mnist"),
                         ("fmnist-sample", "fashion-mnist-sample"), (" Synthetic ", "synthetic")]:
        assert ds.canonical_name(alias) == canon
    with pytest.raises(ValueError, match="unknown dataset 'mnist'.*cifar10.*fashion-mnist-sample.*synthetic"):
        ds.load_images("mnist")
    with pytest.raises(ValueError, match="valid names"):
        ds.make_batch("imagenet1k", 4)


# ---------------------------------------------------------------------------------------------------------------
# readers


@pytest.mark.parametrize("bytes_keys", [False, True])
def test_cifar10_pickles(tmp_path, bytes_keys):
    written = write_cifar10(tmp_path / "cifar-10-batches-py", bytes_keys=bytes_keys)
    test = ds.load_images("cifar10", "test", root=tmp_path)
    data, labels = written["test_batch"]
    assert test.images.shape == (6, 3, 32, 32) and test.images.dtype == np.uint8
    np.testing.assert_array_equal(test.images, data.reshape(6, 3, 32, 32))
    np.testing.assert_array_equal(test.labels, labels)
    assert test.labels.dtype == np.int64 and test.num_classes == 10 and test.name == "cifar10"
    assert test.mean == pytest.approx((125.3 / 255, 123.0 / 255, 113.9 / 255))
    assert test.std == pytest.approx((63.0 / 255, 62.1 / 255, 66.7 / 255))
    train = ds.load_images("CIFAR-10", "train", root=tmp_path / "cifar-10-batches-py")  # the folder itself
    assert len(train) == 30
    np.testing.assert_array_equal(train.images[6:12], written["data_batch_2"][0].reshape(6, 3, 32, 32))
    np.testing.assert_array_equal(train.labels[-6:], written["data_batch_5"][1])


def test_cifar100_uses_fine_labels(tmp_path):
    written = write_cifar100(tmp_path / "cifar-100-python")
    for split in ("train", "test"):
        s = ds.load_images("cifar100", split, root=tmp_path)
        data, fine = written[split]
        np.testing.assert_array_equal(s.images, data.reshape(-1, 3, 32, 32))
        np.testing.assert_array_equal(s.labels, fine)
        assert s.num_classes == 100 and s.split == split
    assert s.mean == pytest.approx((129.3 / 255, 124.1 / 255, 112.4 / 255))
    assert s.std == pytest.approx((68.2 / 255, 65.4 / 255, 70.4 / 255))


def test_imagenet16_keeps_first_120_classes(tmp_path):
    written = write_imagenet16(tmp_path / "ImageNet16")
    val = ds.load_images("ImageNet16-120", "test", root=tmp_path)
    data, labels = written["val_data"]
    keep = np.asarray(labels) <= 120
    np.testing.assert_array_equal(val.images, data[keep].reshape(-1, 3, 16, 16))
    np.testing.assert_array_equal(val.labels, np.asarray(labels)[keep] - 1)
    assert val.labels.min() == 0 and val.labels.max() == 119 and val.num_classes == 120
    assert val.mean == pytest.approx((122.68 / 255, 116.66 / 255, 104.01 / 255))
    assert val.std == pytest.approx((63.22 / 255, 61.26 / 255, 65.09 / 255))
    train = ds.load_images("imagenet16", "train", root=tmp_path / "ImageNet16")
    expected = sum(int((np.asarray(lab) <= 120).sum()) for f, (_, lab) in written.items() if f != "val_data")
    assert len(train) == expected and train.images.shape[1:] == (3, 16, 16)


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_idx(tmp_path, gz):
    written = write_fashion(tmp_path / "fashion-mnist", gz=gz)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        s = ds.load_images("fashion-mnist", split, root=tmp_path / "fashion-mnist")
        images, labels = written[prefix]
        np.testing.assert_array_equal(s.images, images[:, None])
        np.testing.assert_array_equal(s.labels, labels)
        assert s.num_classes == 10 and s.mean == (0.2860,) and s.std == (0.3530,)
    # a root holding a fashion-mnist/ sub-folder works too
    assert len(ds.load_images("fmnist", "test", root=tmp_path)) == 10


def test_read_idx_header(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a-idx3-ubyte").write_bytes(idx_bytes(arr))
    np.testing.assert_array_equal(ds.read_idx(tmp_path / "a-idx3-ubyte"), arr)


def test_npz_files_and_roots(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 3, 32, 32), dtype=np.uint8)
    np.savez(tmp_path / "cifar10_test_30.npz", images_nchw=images, labels=np.arange(30) % 10)
    by_path = ds.load_images(str(tmp_path / "cifar10_test_30.npz"))
    assert by_path.name == "cifar10" and by_path.num_classes == 10 and len(by_path) == 30
    by_root_dir = ds.load_images("cifar10", root=tmp_path)  # found as <name>_<split>*.npz
    by_root_file = ds.load_images("cifar10", root=tmp_path / "cifar10_test_30.npz")
    for s in (by_root_dir, by_root_file):
        np.testing.assert_array_equal(s.images, images)
    with pytest.raises(FileNotFoundError, match="cifar10 train split not found"):
        ds.load_images("cifar10", "train", root=tmp_path)
    with pytest.raises(ValueError, match="holds the 'test' split, not 'train'"):
        ds.load_images(tmp_path / "cifar10_test_30.npz", "train")
    np.savez(tmp_path / "mine.npz", images_nchw=images[:, :1], labels=np.arange(30) % 4)
    mine = ds.load_images(tmp_path / "mine.npz")  # unknown data set: classes and statistics from the file
    assert mine.name == "mine" and mine.num_classes == 4
    assert mine.mean[0] == pytest.approx(images[:, :1].mean() / 255)


@pytest.mark.skipif(not SHARED_IMAGES.is_dir(), reason="../shared/data/images is absent")
def test_shared_npz_files():
    c10 = ds.load_images(SHARED_IMAGES / "cifar10_test_1017.npz")
    assert c10.name == "cifar10" and c10.images.shape == (1017, 3, 32, 32) and c10.num_classes == 10
    assert set(np.unique(c10.labels)) == set(range(10))
    c100 = ds.load_images("cifar100", root=SHARED_IMAGES)
    with np.load(SHARED_IMAGES / "cifar100_test_916.npz") as z:
        np.testing.assert_array_equal(c100.labels, z["fine_labels"])
    assert c100.name == "cifar100" and len(c100) == 916 and c100.num_classes == 100
    x, y = ds.make_batch("cifar10", 64, seed=1, root=SHARED_IMAGES, resolution=16)
    assert x.shape == (64, 3, 16, 16) and y.dtype == torch.int64
    # NB201's CIFAR-10 constants put real test images near zero mean and unit spread
    full = ds.to_tensor(c10)
    assert full.mean().abs() < 0.1 and abs(full.std().item() - 1) < 0.1


@pytest.mark.skipif(not (FASHION_SYSTEM / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason="Debian package dataset-fashion-mnist is not installed")
def test_real_fashion_mnist():
    test = ds.load_images("fashion-mnist")  # default root: /usr/share/datasets/fashion-mnist
    assert test.images.shape == (10000, 1, 28, 28) and test.source == str(FASHION_SYSTEM)
    np.testing.assert_array_equal(np.bincount(test.labels), [1000] * 10)
    x = ds.to_tensor(test)
    assert abs(x.mean().item()) < 0.02 and abs(x.std().item() - 1) < 0.02  # constants are train-set statistics
    sample = ds.load_images("fashion-mnist-sample")
    np.testing.assert_array_equal(sample.images, test.images[:1000])
    np.testing.assert_array_equal(sample.labels, test.labels[:1000])


def test_bundled_sample():
    assert ds.SAMPLE_PATH.is_file() and ds.SAMPLE_PATH.stat().st_size < 600_000
    s = ds.load_images("fashion-mnist-sample", root="/nonexistent")  # needs no data root
    assert s.images.shape == (1000, 1, 28, 28) and s.labels.dtype == np.int64
    assert s.name == "fashion-mnist-sample" and s.num_classes == 10 and s.mean == (0.2860,)
    assert set(np.unique(s.labels)) == set(range(10))
    assert 60 < s.images.mean() < 90  # Fashion-MNIST's mean pixel is ~73 (0.286 * 255)
    x, y = ds.make_batch("fashion-mnist-sample", 80, seed=0, resolution=16, channels=3, balanced=True)
    assert x.shape == (80, 3, 16, 16)
    np.testing.assert_array_equal(np.bincount(y.numpy()), [8] * 10)
    with pytest.raises(ValueError, match="only the 'test' split"):
        ds.load_images("fashion-mnist-sample", "train")


def test_synthetic_warns_and_is_deterministic(monkeypatch):
    monkeypatch.setattr(ds, "SYNTHETIC_SIZE", 2000)
    with pytest.warns(ds.SyntheticDataWarning, match="not comparable"):
        a = ds.load_images("synthetic")
    assert a.images.shape == (2000, 3, 32, 32) and a.num_classes == 10
    ds.clear_cache()
    with pytest.warns(ds.SyntheticDataWarning):
        b = ds.load_images("synthetic")
    with pytest.warns(ds.SyntheticDataWarning):
        tr = ds.load_images("synthetic", "train")
    with pytest.warns(ds.SyntheticDataWarning):
        x, y = ds.make_batch("synthetic", 16, seed=0)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images[:10], tr.images[:10])
    assert x.shape == (16, 3, 32, 32) and y.max() < 10
    x = ds.to_tensor(a)  # N(0, 1) after normalization, apart from rounding and clipping at 2.5 sigma
    assert abs(x.mean().item()) < 0.01 and abs(x.std().item() - 1) < 0.03


def test_default_roots(tmp_path, monkeypatch):
    write_cifar10(tmp_path / "env" / "cifar-10-batches-py")
    monkeypatch.setenv(ds.ENV_VAR, str(tmp_path / "env"))
    assert len(ds.load_images("cifar10")) == 6
    write_fashion(tmp_path / "env" / "fashion-mnist")
    monkeypatch.setattr(ds, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "no-debian")
    assert ds.load_images("fashion-mnist").source == str(tmp_path / "env" / "fashion-mnist")
    write_fashion(tmp_path / "debian", n_test=7)
    monkeypatch.setattr(ds, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "debian")
    assert len(ds.load_images("fashion-mnist")) == 7  # the Debian folder comes first
    assert len(ds.load_images("fashion-mnist", root=tmp_path / "env")) == 10  # an explicit root wins


# ---------------------------------------------------------------------------------------------------------------
# tensors


def _set(images, labels, mean, std, num_classes=10):
    return ds.ImageSet(images=images, labels=np.asarray(labels, dtype=np.int64), num_classes=num_classes,
                       name="toy", mean=mean, std=std)


def test_to_tensor_normalization_resize_channels():
    gray = _set(np.full((2, 1, 28, 28), 51, np.uint8), [0, 1], (0.2860,), (0.3530,))
    x = ds.to_tensor(gray)
    assert x.dtype == torch.float32 and x.shape == (2, 1, 28, 28)
    assert torch.allclose(x, torch.full_like(x, (0.2 - 0.2860) / 0.3530))
    assert torch.allclose(ds.to_tensor(gray, normalize=False), torch.full((2, 1, 28, 28), 0.2))
    x3 = ds.to_tensor(gray, resolution=16, channels=3)
    assert x3.shape == (2, 3, 16, 16)
    assert torch.allclose(x3, torch.full_like(x3, (0.2 - 0.2860) / 0.3530), atol=1e-6)  # constants survive resizing
    rng = np.random.default_rng(0)
    rgb = _set(rng.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8), [0, 1, 2], (0.5, 0.4, 0.3), (0.2, 0.25, 0.3))
    y = ds.to_tensor(rgb, resolution=(20, 24))
    assert y.shape == (3, 3, 20, 24)
    ref = F.interpolate(torch.from_numpy(rgb.images).float() / 255, size=(20, 24), mode="bilinear",
                        align_corners=False, antialias=True)
    ref = (ref - torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)) / torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    assert torch.allclose(y, ref, atol=1e-5)
    # replicated channels are identical copies of the grayscale channel
    g = _set(rng.integers(0, 256, (2, 1, 8, 8), dtype=np.uint8), [0, 1], (0.3,), (0.3,))
    g3 = ds.to_tensor(g, channels=3)
    assert torch.equal(g3[:, 0], g3[:, 2]) and torch.equal(g3[:, :1], ds.to_tensor(g))
    with pytest.raises(ValueError, match="cannot turn 3-channel"):
        ds.to_tensor(rgb, channels=1)
    for bad in (0, -3, 2.5, "16", (16,), (16, 0), True):
        with pytest.raises(ValueError, match="resolution"):
            ds.to_tensor(rgb, resolution=bad)
    with pytest.raises(ValueError, match="channels must be"):
        ds.to_tensor(gray, channels=2)
    with pytest.raises(ValueError, match="expects an ImageSet"):
        ds.to_tensor(np.zeros((1, 1, 2, 2), np.uint8))


def test_imageset_validation():
    with pytest.raises(ValueError, match="uint8"):
        _set(np.zeros((2, 1, 4, 4), np.float32), [0, 1], (0.5,), (0.5,))
    with pytest.raises(ValueError, match="labels span"):
        _set(np.zeros((2, 1, 4, 4), np.uint8), [0, 10], (0.5,), (0.5,))
    with pytest.raises(ValueError, match="one positive value per channel"):
        _set(np.zeros((2, 3, 4, 4), np.uint8), [0, 1], (0.5,), (0.5,))


# ---------------------------------------------------------------------------------------------------------------
# batches


def _indexed_set(n=200, num_classes=10):
    """Images whose pixels encode their own index (i // 256, i % 256), labels i % num_classes."""
    idx = np.arange(n)
    images = np.zeros((n, 1, 4, 4), np.uint8)
    images[:, 0, 0, 0] = idx // 256
    images[:, 0, 0, 1] = idx % 256
    return _set(images, idx % num_classes, (0.0,), (1 / 255,), num_classes)


def _decode(x):
    return (x[:, 0, 0, 0].round().long() * 256 + x[:, 0, 0, 1].round().long()).tolist()


def test_batches_deterministic_and_disjoint():
    s = _indexed_set()
    x1, y1 = ds.make_batch(s, 32, seed=7)
    x2, y2 = ds.make_batch(s, 32, seed=7)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    x3, _ = ds.make_batch(s, 32, seed=8)
    assert not torch.equal(x1, x3)
    ids = _decode(x1)
    assert len(set(ids)) == 32 and y1.tolist() == [i % 10 for i in ids] and y1.dtype == torch.int64
    batches = ds.make_batches(s, 25, 8, seed=3)
    all_ids = [i for x, _ in batches for i in _decode(x)]
    assert len(all_ids) == 200 and len(set(all_ids)) == 200  # disjoint, here covering every image
    assert torch.equal(batches[0][0], ds.make_batch(s, 25, seed=3)[0])
    with pytest.raises(ValueError, match="need 201 distinct images"):
        ds.make_batches(s, 67, 3)


def test_balanced_batches():
    s = _indexed_set(n=300)
    x, y = ds.make_batch(s, 50, seed=0, balanced=True)
    np.testing.assert_array_equal(np.bincount(y.numpy(), minlength=10), [5] * 10)
    assert y.tolist() != sorted(y.tolist())  # classes are interleaved
    batches = ds.make_batches(s, 30, 10, seed=1, balanced=True)
    ids = [i for x, _ in batches for i in _decode(x)]
    assert len(set(ids)) == 300
    for _, yb in batches:
        np.testing.assert_array_equal(np.bincount(yb.numpy(), minlength=10), [3] * 10)
    assert torch.equal(ds.make_batch(s, 50, seed=0, balanced=True)[1], y)
    with pytest.raises(ValueError, match="divisible by the 10 classes.*try 40 or 50"):
        ds.make_batch(s, 45, balanced=True)
    with pytest.raises(ValueError, match="need 31 images per class"):
        ds.make_batches(s, 310, 1, balanced=True)
    skewed = _set(np.zeros((12, 1, 2, 2), np.uint8), [0] * 10 + [1, 1], (0.5,), (0.5,), num_classes=2)
    with pytest.raises(ValueError, match="class 1 .* has 2"):
        ds.make_batch(skewed, 6, balanced=True)


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch_size=0), "batch_size must be a positive integer"),
    (dict(batch_size=2.0), "batch_size must be a positive integer"),
    (dict(batch_size=True), "batch_size must be a positive integer"),
    (dict(batch_size=4, seed=-1), "seed must be"),
    (dict(batch_size=4, split="valid"), "unknown split 'valid'; valid splits: train, test"),
    (dict(batch_size=4, resolution=0), "resolution"),
    (dict(batch_size=4, channels=4), "channels must be"),
    (dict(batch_size=1001), "need 1001 distinct images"),
])
def test_batch_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ds.make_batch("fashion-mnist-sample", **kwargs)


def test_num_batches_errors():
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="num_batches must be a positive integer"):
            ds.make_batches("fashion-mnist-sample", 4, bad)
    with pytest.raises(ValueError, match="unknown split"):
        ds.load_images("cifar10", split=None)


# ---------------------------------------------------------------------------------------------------------------
# error paths


def test_missing_files_name_path_and_remedy(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError,
                       match=r"cifar10 test split not found.*empty.*cs\.toronto\.edu.*download=True"):
        ds.load_images("cifar10", root=empty)
    with pytest.raises(FileNotFoundError, match=r"cifar-100-python\.tar\.gz"):
        ds.load_images("cifar100", "train", root=empty)
    monkeypatch.setattr(ds, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte.*dataset-fashion-mnist.*download=True"):
        ds.load_images("fashion-mnist")
    with pytest.raises(FileNotFoundError, match="no public direct download URL"):
        ds.load_images("imagenet16-120", root=empty)
    with pytest.raises(FileNotFoundError, match="no public direct download URL"):
        ds.load_images("imagenet16-120", root=empty, download=True)
    with pytest.raises(ValueError, match="no public direct download URL"):
        ds.download("imagenet16-120", empty)
    write_cifar10(tmp_path / "partial")
    (tmp_path / "partial" / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match=r"incomplete: missing .*partial/data_batch_3"):
        ds.load_images("cifar10", "train", root=tmp_path / "partial")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ds.load_images(tmp_path / "absent.npz")
    with pytest.raises(FileNotFoundError, match="absent.npz does not exist"):
        ds.load_images("cifar10", root=tmp_path / "absent.npz")


def test_corrupted_files_raise_value_error_naming_the_file(tmp_path):
    write_cifar10(tmp_path / "c10")
    raw = (tmp_path / "c10" / "test_batch").read_bytes()
    (tmp_path / "c10" / "test_batch").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"c10/test_batch: not a readable data-set pickle"):
        ds.load_images("cifar10", root=tmp_path / "c10")
    # wrong array shape, label count mismatch, a foreign object inside the pickle
    _dump(tmp_path / "c10" / "test_batch", {"data": np.zeros((4, 100), np.uint8), "labels": [0] * 4})
    with pytest.raises(ValueError, match=r"test_batch: 'data' must be uint8 of shape \(N, 3072\)"):
        ds.load_images("cifar10", root=tmp_path / "c10")
    _dump(tmp_path / "c10" / "test_batch", {"data": np.zeros((4, 3072), np.uint8), "labels": [0] * 3})
    with pytest.raises(ValueError, match="4 images but 3 labels"):
        ds.load_images("cifar10", root=tmp_path / "c10")
    _dump(tmp_path / "c10" / "test_batch", {"data": collections.OrderedDict(), "labels": []})
    with pytest.raises(ValueError, match="unexpected object collections.OrderedDict"):
        ds.load_images("cifar10", root=tmp_path / "c10")
    _dump(tmp_path / "c10" / "test_batch", {"data": np.zeros((2, 3072), np.uint8), "labels": [3, 10]})
    with pytest.raises(ValueError, match="labels must lie in 0..9"):
        ds.load_images("cifar10", root=tmp_path / "c10")
    # IDX: truncated payload (raw and gzip), gzip stream cut short, not gzip at all, bad magic
    write_fashion(tmp_path / "fm", gz=False)
    p = tmp_path / "fm" / "t10k-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: truncated or corrupted IDX file"):
        ds.load_images("fashion-mnist", root=tmp_path / "fm")
    write_fashion(tmp_path / "fz", gz=True)
    gzp = tmp_path / "fz" / "t10k-images-idx3-ubyte.gz"
    gzp.write_bytes(gzp.read_bytes()[:-500])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz: cannot decompress"):
        ds.load_images("fashion-mnist", root=tmp_path / "fz")
    gzp.write_bytes(b"this is not gzip data at all")
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz: cannot decompress"):
        ds.load_images("fashion-mnist", root=tmp_path / "fz")
    gzp.write_bytes(gzip.compress(b"\x01\x02\x08\x03" + b"\0" * 40))
    with pytest.raises(ValueError, match="not an IDX file"):
        ds.load_images("fashion-mnist", root=tmp_path / "fz")
    # npz: truncated archive, missing arrays
    np.savez(tmp_path / "cifar10_test_5.npz", images_nchw=np.zeros((5, 3, 32, 32), np.uint8), labels=np.zeros(5))
    zp = tmp_path / "cifar10_test_5.npz"
    zp.write_bytes(zp.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"cifar10_test_5\.npz: not a readable \.npz"):
        ds.load_images(zp)
    np.savez(tmp_path / "cifar10_test_6.npz", pixels=np.zeros((5, 3, 32, 32), np.uint8))
    with pytest.raises(ValueError, match=r"cifar10_test_6\.npz: no 'images_nchw'"):
        ds.load_images(tmp_path / "cifar10_test_6.npz")


def test_cache_sees_file_changes(tmp_path):
    write_fashion(tmp_path, n_test=10)
    assert len(ds.load_images("fashion-mnist", root=tmp_path)) == 10
    write_fashion(tmp_path, n_test=12)
    assert len(ds.load_images("fashion-mnist", root=tmp_path)) == 12
    s = ds.load_images("fashion-mnist", root=tmp_path)
    with pytest.raises(ValueError):
        s.images[0, 0, 0, 0] = 1  # shared arrays are read-only


# ---------------------------------------------------------------------------------------------------------------
# downloads from a loopback HTTP server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def ds_http_server(tmp_path, monkeypatch):
    """Serves tmp_path/'served' on 127.0.0.1; yields (base URL, served folder)."""
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
    served = tmp_path / "served"
    served.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler,
                                                                                 directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _mini_cifar10_tarball(tmp_path: Path, served: Path, extra=None) -> tuple[Path, dict]:
    written = write_cifar10(tmp_path / "build" / "cifar-10-batches-py", n=4)
    archive = served / "cifar-10-python.tar.gz"
    tar_folder(tmp_path / "build", "cifar-10-batches-py", archive, extra)
    return archive, written


def _no_leftovers(folder: Path):
    return [p.name for p in folder.rglob("*") if p.name.endswith((".part", ".extract"))]


def test_download_cifar10_from_loopback(tmp_path, monkeypatch, ds_http_server):
    base, served = ds_http_server
    archive, written = _mini_cifar10_tarball(tmp_path, served)
    monkeypatch.setitem(ds.SOURCES, "cifar10", (
        ds.RemoteFile("cifar-10-python.tar.gz", md5(archive), (base + "cifar-10-python.tar.gz",),
                      "cifar-10-batches-py"),))
    root = tmp_path / "data"
    with pytest.raises(FileNotFoundError):
        ds.load_images("cifar10", root=root)
    s = ds.load_images("cifar10", root=root, download=True)
    np.testing.assert_array_equal(s.images, written["test_batch"][0].reshape(-1, 3, 32, 32))
    assert md5(root / "cifar-10-python.tar.gz") == md5(archive)
    assert sorted(p.name for p in (root / "cifar-10-batches-py").iterdir()) == sorted(
        [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"])
    assert _no_leftovers(root) == [] and len(ds.load_images("cifar10", "train", root=root)) == 20
    archive.unlink()  # a second call finds the files and never contacts the server
    assert len(ds.load_images("cifar10", root=root, download=True)) == 4


def test_download_checksum_mismatch_leaves_nothing(tmp_path, monkeypatch, ds_http_server):
    base, served = ds_http_server
    archive, _ = _mini_cifar10_tarball(tmp_path, served)
    url = base + "cifar-10-python.tar.gz"
    wrong = "0" * 32
    monkeypatch.setitem(ds.SOURCES, "cifar10", (
        ds.RemoteFile("cifar-10-python.tar.gz", wrong, (url,), "cifar-10-batches-py"),))
    root = tmp_path / "data"
    with pytest.raises(ValueError) as err:
        ds.load_images("cifar10", root=root, download=True)
    msg = str(err.value)
    assert "checksum mismatch" in msg and url in msg and wrong in msg and md5(archive) in msg
    assert not (root / "cifar-10-python.tar.gz").exists() and not (root / "cifar-10-batches-py").exists()
    assert list(root.iterdir()) == []  # no partial or temporary file either


def test_download_unreachable_and_unsafe_archive(tmp_path, monkeypatch, ds_http_server):
    base, served = ds_http_server
    root = tmp_path / "data"
    missing = ds.RemoteFile("cifar-10-python.tar.gz", "0" * 32, (base + "missing.tar.gz",), "cifar-10-batches-py")
    with pytest.raises(ConnectionError, match=r"could not download cifar-10-python\.tar\.gz.*missing\.tar\.gz"):
        ds.download("cifar10", root, sources=[missing])
    assert list(root.iterdir()) == []
    archive, _ = _mini_cifar10_tarball(tmp_path, served, extra={"cifar-10-batches-py/../../evil": b"x"})
    unsafe = ds.RemoteFile("cifar-10-python.tar.gz", md5(archive), (base + archive.name,), "cifar-10-batches-py")
    with pytest.raises(ValueError, match="unsafe member path"):
        ds.download("cifar10", root, sources=[unsafe])
    assert not (root / "cifar-10-batches-py").exists() and not (tmp_path / "evil").exists()
    assert _no_leftovers(root) == []


def test_download_fashion_mnist_from_loopback(tmp_path, monkeypatch, ds_http_server):
    base, served = ds_http_server
    written = write_fashion(served, gz=True)
    files = sorted(p.name for p in served.iterdir())
    monkeypatch.setitem(ds.SOURCES, "fashion-mnist", tuple(
        ds.RemoteFile(f, md5(served / f), (base + "absent/" + f, base + f)) for f in files))  # first mirror fails
    monkeypatch.setattr(ds, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "no-debian")
    s = ds.load_images("fmnist", "train", download=True)  # default root: $PROXYBENCH_DATA/fashion-mnist
    assert Path(s.source) == tmp_path / "default-root" / "fashion-mnist"
    np.testing.assert_array_equal(s.images[:, 0], written["train"][0])
    assert sorted(p.name for p in Path(s.source).iterdir()) == files


def test_real_download_table_is_official():
    assert ds.SOURCES["cifar10"][0].urls == ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)
    assert ds.SOURCES["cifar10"][0].md5 == "c58f30108f718f92721af3b95e74349a"
    assert ds.SOURCES["cifar100"][0].md5 == "eb9058c3a382ffc7106e4002c42a8d85"
    fm = {r.filename: r for r in ds.SOURCES["fashion-mnist"]}
    assert fm["t10k-images-idx3-ubyte.gz"].md5 == "bef4ecab320f06d8554ea6380940ec79"
    assert all(any("zalandoresearch/fashion-mnist" in u for u in r.urls) for r in fm.values())
    assert "imagenet16-120" not in ds.SOURCES


def test_no_warning_for_real_data():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds.make_batch("fashion-mnist-sample", 8)
    assert os.environ[ds.ENV_VAR].endswith("default-root")


def test_one_registry_holds_the_facts_of_every_data_set():
    from proxybench.benchmarks.datasets import registry as reg

    assert tuple(reg.REGISTRY) == ds.DATASETS
    for name, spec in reg.REGISTRY.items():
        assert spec.name == name and spec.num_classes >= 2 and len(spec.mean) == len(spec.std) == spec.channels
        assert spec.shape == ds.IMAGE_SHAPES[name] and ds.NUM_CLASSES[name] == spec.num_classes
        assert ds.NORMALIZATION[name] == (spec.mean, spec.std) and set(spec.splits) <= set(ds.SPLITS)
        assert all(ds.canonical_name(a) == name for a in spec.aliases)
        if spec.layout in ("cifar-pickle", "imagenet16-pickle", "idx"):
            assert all(spec.files_for(s) for s in spec.splits) and spec.obtain
    with pytest.raises(TypeError):
        reg.REGISTRY["cifar10"] = None  # read-only
    with pytest.raises(AttributeError):
        reg.REGISTRY["cifar10"].num_classes = 3  # frozen
    assert reg.get_dataset("CIFAR-10").train_size == 50_000
    assert reg.get_dataset("imagenet16").files_for("test") == ("val_data",)
    # ground-truth dataset names of networks trained on these images (NB201's and the KD benchmark's)
    assert reg.for_ground_truth("cifar10-valid").name == "cifar10"
    assert reg.for_ground_truth("ImageNet16-120").name == "imagenet16-120"
    assert reg.for_ground_truth("fashion-mnist").name == "fashion-mnist"
    assert reg.for_ground_truth("fm16") is None
    # the names the loaders used to keep in parallel dicts are now views of the registry
    assert ds.SOURCES["cifar10"] == reg.REGISTRY["cifar10"].downloads


def test_list_datasets_and_the_eval_plan_read_the_registry(capsys):
    from proxybench.benchmarks.datasets import registry as reg
    from proxybench.cli import main
    from proxybench.engine.config import resolve_data

    assert main(["list", "datasets"]) == 0
    out = capsys.readouterr().out
    for spec in reg.REGISTRY.values():
        line = next(ln for ln in out.splitlines() if ln.startswith(spec.name + " "))
        assert "x".join(map(str, spec.shape)) in line and spec.description in line
    spec = resolve_data({}, ["cifar10-valid", "cifar10"], "synthetic", None, 8, False)
    assert (spec["benchmark_dataset"], spec["resolution"], spec["num_classes"], spec["synthetic"]) == \
        ("cifar10", 32, 10, True)
    spec = resolve_data({}, ["ImageNet16-120"], "cifar100", None, 8, False)
    assert (spec["dataset"], spec["resolution"], spec["channels"], spec["num_classes"]) == ("cifar100", 16, 3, 120)
    with pytest.raises(ValueError, match="does not say which images"):
        resolve_data({}, ["cifar100", "fm16"], None, None, 8, False)
