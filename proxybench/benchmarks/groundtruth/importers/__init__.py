"""Importers of accuracy tables into a :class:`~proxybench.benchmarks.groundtruth.GroundTruth`, one module each:

* :func:`from_nb201` -- the official NAS-Bench-201 ``.pth`` (v1_0 and v1_1), read through the ``nas-bench-201``
  package (``nas_201_api.NASBench201API``) with ``get_more_info`` semantics (:mod:`.nb201`);
* :func:`from_nats` -- NATS-Bench topology files, through the optional ``nats_bench`` package (:mod:`.nats`);
* :func:`from_json` -- DisWOT-style KD tables ``{"<arch index>": accuracy}`` (:mod:`.json_file`);
* :func:`from_diswot_txt` -- DisWOT's released S1 tables, ``<arch code> <accuracy>`` per line, on the
  ``diswot-s1`` space (:mod:`.diswot_txt`; :func:`to_diswot_txt` writes the format);
* :func:`from_csv` -- a generic CSV with an index or arch column and accuracy columns (:mod:`.csv_file`).
"""

from __future__ import annotations

import os
from typing import Any

from ..table import GroundTruth
from .csv_file import from_csv, parse_column_name
from .diswot_txt import from_diswot_txt, to_diswot_txt
from .json_file import from_json
from .nats import from_nats
from .nb201 import NB201_DATASETS, NB201_HPS, NB201_METRICS, NB201_SPLITS, from_nb201

IMPORTERS = ("nb201", "nats", "json", "csv", "diswot-txt")


def import_ground_truth(kind: str, path: str | os.PathLike, **options: Any) -> GroundTruth:
    """Dispatch to :func:`from_nb201`, :func:`from_nats`, :func:`from_json`, :func:`from_csv` or
    :func:`from_diswot_txt`."""
    loaders = {"nb201": from_nb201, "nats": from_nats, "json": from_json, "csv": from_csv,
               "diswot-txt": from_diswot_txt}
    if kind not in loaders:
        raise ValueError(f"unknown source kind {kind!r}; valid: {', '.join(IMPORTERS)}")
    return loaders[kind](path, **options)


__all__ = ["IMPORTERS", "NB201_DATASETS", "NB201_HPS", "NB201_METRICS", "NB201_SPLITS", "from_csv",
           "from_diswot_txt", "from_json", "from_nats", "from_nb201", "import_ground_truth", "parse_column_name",
           "to_diswot_txt"]
