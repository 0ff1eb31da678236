"""Import (and write) a DisWOT-style text table of S1 accuracies: one line per architecture, ``<arch code> <top-1 %>``.

The format of the tables DisWOT's authors released for their search space S1 (lliai/DisWOT-CVPR2023,
``exps/s1-gt-kd.txt`` and ``exps/s1-gt-cls.txt``)::

    111 61.8700
    113 69.0100
    ...

Codes are :mod:`~proxybench.benchmarks.spaces.diswot_s1` arch codes (three digits from 1, 3, 5, 7: the blocks of
stages 1, 2, 3); fields are separated by white space; blank lines and lines starting with ``#`` are skipped. A file
may list any subset of the 64 architectures, each once. :func:`to_diswot_txt` writes the same format (4 decimals,
index order), so a file in the authors' spelling round-trips byte for byte.
"""

from __future__ import annotations

import math
import os
from typing import Any

import pandas as pd

from ....io import atomic_open
from ...spaces import get_space
from ...spaces.diswot_s1 import DEPTHS
from ..table import GroundTruth
from .common import existing, to_percent

SPACE = "diswot-s1"
CODE_FORM = "three digits, the blocks of stages 1, 2, 3, each one of 1, 3, 5, 7 ('111' .. '777'; '333' is ResNet-20)"
HOW_TO_GET = ("give a DisWOT-style S1 table: one line per architecture, '<arch code> <accuracy %>', e.g. '333 70.76' "
              "(the format of exps/s1-gt-kd.txt in lliai/DisWOT-CVPR2023)")


def _bad(path, line_no: int, text: str, why: str) -> ValueError:
    return ValueError(f"{path}, line {line_no}: {why} (line: {text.strip()!r}); {HOW_TO_GET}")


def read_diswot_txt(path: str | os.PathLike) -> tuple[list[int], list[str], list[float], list[int]]:
    """(indices, codes, values, line numbers) of a DisWOT-style S1 table, checked line by line: a bad line is a
    ``ValueError`` naming the file, the line, the bad value and what is valid."""
    p = existing(path, HOW_TO_GET)
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{p} is not a text file (not UTF-8); {HOW_TO_GET}") from None
    if "\x00" in text:
        raise ValueError(f"{p} is not a text file (it holds NUL bytes); {HOW_TO_GET}")
    space = get_space(SPACE)
    idx: list[int] = []
    codes: list[str] = []
    values: list[float] = []
    lines: list[int] = []
    seen: dict[str, int] = {}
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 2:
            raise _bad(p, line_no, raw, f"expected 2 fields, '<arch code> <accuracy>', got {len(fields)}")
        code, number = fields
        wrong = ("" if len(code) == 3 and code.isdigit() else "not three digits") or next(
            (f"stage {k} has {c} blocks, not one of {', '.join(map(str, DEPTHS))}" for k, c in enumerate(code, 1)
             if int(c) not in DEPTHS), "")
        if wrong:
            raise _bad(p, line_no, raw, f"{code!r} is not an S1 arch code ({wrong}); valid: {CODE_FORM}")
        try:
            value = float(number)
        except ValueError:
            raise _bad(p, line_no, raw, f"accuracy {number!r} is not a number") from None
        if not math.isfinite(value) or not 0 <= value <= 100:
            raise _bad(p, line_no, raw, f"accuracy {number!r} is not a finite accuracy in % (0..100)")
        if code in seen:
            raise _bad(p, line_no, raw, f"arch {code} is listed twice (first on line {seen[code]})")
        seen[code] = line_no
        idx.append(space.arch_to_index(code))
        codes.append(code)
        values.append(value)
        lines.append(line_no)
    if not idx:
        raise ValueError(f"{p} lists no architecture; {HOW_TO_GET}")
    return idx, codes, values, lines


def from_diswot_txt(path: str | os.PathLike, metric: str = "kd_acc", dataset: str = "cifar100", *,
                    teacher: Any = None, seed: int | None = None, name: str | None = None,
                    description: str | None = None, protocol: Any = None) -> GroundTruth:
    """A :class:`GroundTruth` on the ``diswot-s1`` space from a DisWOT-style text table (see the module docstring).

    All rows get ``dataset`` (default ``cifar100``, DisWOT's data for S1), ``metric`` (default ``kd_acc``; the
    authors' vanilla table is ``vanilla_acc``) and ``seed`` (default ``None``: one number per architecture, not tied
    to a named seed). Values all <= 1 are read as fractions and converted to %. The metadata names the space, so
    ``proxybench eval`` builds S1 networks for the table."""
    from ...datasets.registry import REGISTRY, for_ground_truth

    for what, value in (("metric", metric), ("dataset", dataset)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"from_diswot_txt needs a {what} name, got {value!r}")
    metric, dataset = metric.strip(), dataset.strip()
    idx, codes, values, _ = read_diswot_txt(path)
    p = existing(path, HOW_TO_GET)
    notes: list[str] = []
    pair = f"{dataset}/{metric}"
    vals = to_percent(pd.Series(values, dtype=float).to_numpy(), pair, notes)
    df = pd.DataFrame({"arch_index": idx, "arch": codes, "dataset": dataset, "metric": metric, "value": vals,
                       "seed": None if seed is None else int(seed)})
    meta: dict[str, Any] = {
        "name": name or p.stem,
        "description": description or f"{metric} on {dataset} of {len(df)} DisWOT S1 architectures, from {p.name}",
        "source": {"kind": "diswot-txt", "file": p.name},
        "space": SPACE,
        "protocol": protocol or "",
        "teacher": teacher,
        "datasets": [dataset],
        "metrics": [metric],
        "notes": notes,
    }
    images = for_ground_truth(dataset)
    if images is not None and images.sample_of is None and images.layout != "generated":
        meta["data"] = {"dataset": images.name, "num_classes": images.num_classes, "resolution": images.resolution,
                        "channels": images.channels}
        sample = next((d.name for d in REGISTRY.values() if d.sample_of == images.name), None)
        if sample is not None:
            meta["data"]["sample"] = sample
    return GroundTruth(df, meta)


def to_diswot_txt(gt: GroundTruth, metric: str = "kd_acc", dataset: str | None = None,
                  path: str | os.PathLike | None = None, decimals: int = 4) -> str:
    """The ``(dataset, metric)`` series of an S1 ground truth (mean over seeds) in the DisWOT text format, in index
    order with ``decimals`` decimals; written to ``path`` when given."""
    if gt.space.name != SPACE:
        raise ValueError(f"the DisWOT text format holds {SPACE} architectures; this ground truth is on "
                         f"{gt.space.name!r}")
    series = gt.table(dataset, metric) if dataset is not None else gt.table(metric)
    space = get_space(SPACE)
    text = "".join(f"{space.index_to_arch(int(i))} {v:.{decimals}f}\n" for i, v in series.items())
    if path is not None:
        with atomic_open(path, "w") as fh:
            fh.write(text)
    return text
