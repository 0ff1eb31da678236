"""Import NATS-Bench topology results (the NB201 cell space) through the optional ``nats_bench`` package."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..table import GroundTruth
from .common import check_names, existing
from .nb201 import NB201_DATASETS, NB201_METRICS, check_hp, collect_from_api, exc_text, file_version

HOW_TO_GET = ("download NATS-tss-v1_0-3ffb9-simple.tar from the links in the NATS-Bench repository "
              "(github.com/D-X-Y/NATS-Bench) and unpack it (pass the directory), or pass the single-file "
              "NATS-tss-v1_0-3ffb9-full.pickle.pbz2")


def _open_nats(path: Path):
    try:
        import nats_bench
    except ImportError as exc:
        raise ImportError("reading NATS-Bench files needs the optional package nats_bench: "
                          "pip install nats_bench  (or: pip install 'proxybench[nats]')", name="nats_bench") from exc
    try:
        return nats_bench.create(str(path), "tss", fast_mode=path.is_dir(), verbose=False)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"cannot read NATS-Bench topology data {path} (truncated or corrupted, or not a NATS-Bench "
                         f"topology file?): {exc_text(exc)}; to get the data: {HOW_TO_GET}") from None


def from_nats(path: str | os.PathLike, hp: str | int = "200", datasets: Sequence[str] | None = None, *,
              metrics: Sequence[str] | None = None, name: str | None = None,
              description: str | None = None, progress: bool = False) -> GroundTruth:
    """Import NATS-Bench topology results (the NB201 cell space) through the optional ``nats_bench`` package.

    ``path`` is the unpacked ``NATS-tss-v1_0-3ffb9-simple`` directory (read lazily, one arch at a time) or a
    single ``.pickle.pbz2`` file. Same metric names and semantics as :func:`from_nb201`. NATS-Bench files are
    plain pickles read by ``nats_bench`` itself: only import files from the official source.
    """
    hp = check_hp(hp)
    datasets = check_names(datasets, NB201_DATASETS, "dataset")
    metrics = check_names(metrics, NB201_METRICS, "metric")
    p = existing(path, HOW_TO_GET, allow_dir=True)
    api = _open_nats(p)
    df, info = collect_from_api(api, p, "nats", hp, datasets, metrics, progress)
    import nats_bench

    version = file_version(p.name)
    meta = {
        "name": name or f"nats-tss-{version or p.stem}-hp{hp}",
        "description": description or f"NATS-Bench topology trained accuracies, hp {hp}, {', '.join(info['datasets'])}",
        "source": {"kind": "nats-bench-tss", "file": p.name, "version": version,
                   "reader": f"nats_bench {nats_bench.version()}",
                   "query": f"get_more_info(index, dataset, iepoch=None, hp='{hp}', is_random=seed)"},
        "protocol": f"NATS-Bench topology training, hp {hp}: SGD nesterov, lr 0.1 cosine to 0, wd 5e-4, "
                    f"batch 256, {max(info['epochs'].values())} epochs; last-epoch top-1 accuracy per trial",
        "teacher": None,
        **info,
    }
    return GroundTruth(df, meta)


