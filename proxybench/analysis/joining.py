"""Joining scores with ground truth: input checks, ground-truth names, per-architecture series.

Input tables (tidy; columns in :mod:`proxybench.schema`):

* scores: one row per (arch_index, arch, proxy, seed) with ``score`` (higher = predicted better; NaN/inf allowed);
* ground truth: ``arch_index``, ``arch``, ``dataset`` (optional), ``metric``, ``value``, ``seed`` (optional; a
  missing seed, or the old spelling ``-1``, marks a value not tied to one training seed). A ground-truth *name*
  is ``"<dataset>/<metric>"``, or ``"<metric>"`` when the table holds a single dataset (both spellings are
  accepted as input).

Scores and ground truth are joined on ``arch_index`` when both tables have it without gaps, else on ``arch``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

SCORE_COLUMNS = ("proxy", "score")  # the columns correlating needs (the full layouts are in proxybench.schema)
GT_COLUMNS = ("metric", "value")
NO_SEED = -1  # a missing ground-truth seed, inside this module's normalised frames only


def require(df: pd.DataFrame, cols: Iterable[str], what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{what} table lacks column(s) {missing}; it has {list(df.columns)}")


def join_key(scores: pd.DataFrame, ground_truth: pd.DataFrame, key: str = "auto") -> str:
    """The column joining scores to ground truth: ``arch_index`` when both tables have it without gaps,
    else ``arch``."""
    if key not in ("auto", "arch_index", "arch"):
        raise ValueError(f"unknown join key {key!r}; valid: 'auto', 'arch_index', 'arch'")
    if key == "auto":
        if all("arch_index" in d.columns and d["arch_index"].notna().all() for d in (scores, ground_truth)):
            return "arch_index"
        key = "arch"
    for d, what in ((scores, "scores"), (ground_truth, "ground-truth")):
        if key not in d.columns:
            raise ValueError(f"cannot join scores and ground truth: the {what} table has no {key!r} column")
    return key


def _gt_names(gt: pd.DataFrame) -> pd.Series:
    metric = gt["metric"].astype(str)
    if "dataset" not in gt.columns:
        return metric
    ds = gt["dataset"].fillna("").astype(str)
    if ds.nunique() <= 1:
        return metric
    return (ds + "/" + metric).where(ds != "", metric)


def normalise_ground_truth(ground_truth: pd.DataFrame) -> pd.DataFrame:
    """A copy with a ``_name`` column (the ground-truth name), float values, and int seeds in which
    :data:`NO_SEED` stands for a value not tied to one seed (missing, or the old ``-1``)."""
    require(ground_truth, GT_COLUMNS, "ground-truth")
    gt = ground_truth.copy()
    gt["_name"] = _gt_names(gt)
    gt["value"] = pd.to_numeric(gt["value"], errors="coerce").astype(float)
    if "seed" in gt.columns:
        gt["seed"] = pd.to_numeric(gt["seed"], errors="coerce").fillna(NO_SEED).astype(int)
    else:
        gt["seed"] = NO_SEED
    if "arch_index" in gt.columns:
        gt["arch_index"] = pd.to_numeric(gt["arch_index"], errors="coerce")
        if gt["arch_index"].notna().all():
            gt["arch_index"] = gt["arch_index"].astype(int)
    return gt


def alias_map(gt: pd.DataFrame) -> dict[str, str]:
    """Accepted spellings -> canonical ground-truth name (``metric`` or ``dataset/metric``)."""
    out: dict[str, str] = {}
    for name in gt["_name"].unique():
        out[name] = name
    if "dataset" in gt.columns:
        for ds, metric, name in gt[["dataset", "metric", "_name"]].drop_duplicates().itertuples(index=False):
            out.setdefault(f"{ds}/{metric}", name)
    return out


def ground_truth_names(ground_truth: pd.DataFrame) -> list[str]:
    """The ground-truth names of a table, in order of first appearance."""
    gt = normalise_ground_truth(ground_truth)
    return list(dict.fromkeys(gt["_name"]))


def resolve_names(gt: pd.DataFrame, wanted: Sequence[str] | str | None) -> list[str]:
    names = list(dict.fromkeys(gt["_name"]))
    if wanted is None:
        return names
    if isinstance(wanted, str):
        wanted = [wanted]
    aliases = alias_map(gt)
    out = []
    for w in wanted:
        if w not in aliases:
            raise ValueError(f"unknown ground truth {w!r}; valid: {', '.join(names)}")
        out.append(aliases[w])
    return list(dict.fromkeys(out))


def normalise_scores(scores: pd.DataFrame) -> pd.DataFrame:
    require(scores, SCORE_COLUMNS, "scores")
    sc = scores.copy()
    sc["score"] = pd.to_numeric(sc["score"], errors="coerce").astype(float)
    sc["seed"] = pd.to_numeric(sc["seed"], errors="coerce").fillna(0).astype(int) if "seed" in sc.columns else 0
    if "arch_index" in sc.columns:
        sc["arch_index"] = pd.to_numeric(sc["arch_index"], errors="coerce")
        if sc["arch_index"].notna().all():
            sc["arch_index"] = sc["arch_index"].astype(int)
    return sc


def ground_truth_values(ground_truth: pd.DataFrame, name: str | None = None, *, key: str = "arch_index"
                        ) -> pd.Series:
    """Per-architecture value of ground truth ``name`` (indexed by ``key``): the value not tied to a seed where
    there is one, else the mean of the finite per-seed values (the mean over seeds). Non-finite values are left
    out."""
    gt = normalise_ground_truth(ground_truth)
    (name,) = resolve_names(gt, name if name is not None else gt["_name"].iloc[0])
    require(gt, [key], "ground-truth")
    sub = gt[(gt["_name"] == name) & np.isfinite(gt["value"])]
    unseeded = sub[sub["seed"] == NO_SEED]
    if unseeded[key].duplicated().any():
        dup = unseeded[key][unseeded[key].duplicated()].iloc[0]
        raise ValueError(f"ground truth {name!r} has several rows without a seed for {key}={dup!r}")
    per_seed = sub[sub["seed"] != NO_SEED].groupby(key)["value"].mean()
    values = unseeded.set_index(key)["value"].combine_first(per_seed)
    values.name = name
    return values.sort_index()


def ground_truth_seed_matrix(ground_truth: pd.DataFrame, name: str, *, key: str = "arch_index"
                             ) -> pd.DataFrame:
    """Architectures x ground-truth seeds (rows with a seed only) of ground truth ``name``."""
    gt = normalise_ground_truth(ground_truth)
    (name,) = resolve_names(gt, name)
    sub = gt[(gt["_name"] == name) & (gt["seed"] != NO_SEED)]
    if sub.duplicated([key, "seed"]).any():
        row = sub[sub.duplicated([key, "seed"])].iloc[0]
        raise ValueError(f"ground truth {name!r} has several rows for {key}={row[key]!r}, seed={row['seed']}")
    return sub.pivot(index=key, columns="seed", values="value").sort_index()


def score_matrix(scores: pd.DataFrame, proxy: str, *, key: str = "arch_index") -> pd.DataFrame:
    """Architectures x seeds matrix of one proxy's scores (non-finite values kept)."""
    sc = normalise_scores(scores)
    sub = sc[sc["proxy"] == proxy]
    if sub.empty:
        raise ValueError(f"unknown proxy {proxy!r}; valid: {', '.join(map(str, sc['proxy'].unique()))}")
    if sub.duplicated([key, "seed"]).any():
        row = sub[sub.duplicated([key, "seed"])].iloc[0]
        raise ValueError(f"scores hold several rows for proxy {proxy!r}, {key}={row[key]!r}, seed={row['seed']}")
    return sub.pivot(index=key, columns="seed", values="score").sort_index()


def seed_averaged(matrix: pd.DataFrame) -> pd.Series:
    """Per-architecture mean of the finite scores over seeds (NaN where no seed is finite)."""
    return matrix.where(np.isfinite(matrix)).mean(axis=1)


def check_arch_agreement(sc: pd.DataFrame, gt: pd.DataFrame, key: str) -> None:
    if key != "arch_index" or "arch" not in sc.columns or "arch" not in gt.columns:
        return
    a = sc[[key, "arch"]].drop_duplicates(key)
    b = gt[[key, "arch"]].dropna().drop_duplicates(key)
    m = a.merge(b, on=key, suffixes=("_scores", "_gt"))
    bad = m[m["arch_scores"].astype(str) != m["arch_gt"].astype(str)]
    if len(bad):
        r = bad.iloc[0]
        warnings.warn(f"{len(bad)} architecture(s) have different arch strings in scores and ground truth for the "
                      f"same arch_index (e.g. {r[key]}: {r['arch_scores']!r} vs {r['arch_gt']!r}); joined on "
                      f"arch_index", stacklevel=3)
