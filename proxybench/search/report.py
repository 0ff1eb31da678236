"""What a search found, measured against a ground truth; the training-based cost it replaces; the plot; files.

Ground truth: one value per arch (the mean over the table's seeds) of the chosen (dataset, metric). The found
arch's *percentile* is the percentage of the table's archs whose value is <= its value
(``scipy.stats.percentileofscore(kind="weak")``: 100 for the table's best), its *rank* is 1 + the number of archs
strictly better. An arch absent from the table has no true value; the report says so and, on NB201, names any arch
of the table computing the same function (:func:`proxybench.nb201.canonical_key`).

Training-based cost: a search that trains every arch it evaluates costs (unique archs evaluated) x (seconds per
training run). Seconds per run come from the benchmark's metadata when it has them: ``protocol.epochs`` x training
images (``protocol.train_subset``, else the data set's training-set size) / ``compute.median_images_per_s``; else
``compute.total_train_seconds`` / number of trained runs (table rows). DisWOT (Dong, Li & Wei, CVPR 2023) reports
~1,200 s for its NB201 search against ~216,000 s for a training-based one (180x).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats

DISWOT_REFERENCE = {"proxy_search_s": 1200.0, "training_search_s": 216000.0}
_MAX_EQUIV_SCAN = 2000  # look for function-equivalent archs only in tables this small (larger ones hold them all)


# ---- ground truth ------------------------------------------------------------------------------------------------
def resolve_metric(gt: Any, metric: str | None = None, dataset: str | None = None,
                   prefer_dataset: str | None = None) -> tuple[str, str]:
    """The (dataset, metric) of ``gt`` to judge a search by: ``metric`` (``"METRIC"`` or ``"DATASET/METRIC"``)
    when given, else ``kd_acc`` if present, else the first metric. When the metric exists on several data sets and
    none is named, the one matching ``prefer_dataset`` (the data the proxies saw), else the first."""
    if metric is not None and "/" in str(metric):
        dataset, metric = str(metric).split("/", 1)
    if metric is None:
        metrics = gt.metrics(dataset) if dataset is not None else gt.metrics()
        metric = "kd_acc" if "kd_acc" in metrics else metrics[0]
    if dataset is None:
        have = gt.datasets(metric)
        if len(have) > 1 and prefer_dataset is not None:
            from ..benchmarks.datasets.registry import for_ground_truth

            match = [d for d in have if getattr(for_ground_truth(d), "name", d.lower()) == prefer_dataset]
            dataset = match[0] if match else have[0]
        else:
            dataset = have[0]
    return gt.resolve(dataset=dataset, metric=metric)


def true_values(table: pd.Series, indices: Any) -> np.ndarray:
    """Table values of ``indices`` (NaN where absent)."""
    return table.reindex(np.asarray(indices, dtype=np.int64)).to_numpy(dtype=float)


def add_truth_columns(traj: pd.DataFrame, table: pd.Series) -> pd.DataFrame:
    """Trajectory plus ``true_value`` (of the proposed arch), ``best_so_far_true`` (of the best-so-far arch) and
    ``visited_best_true`` (the best true value among the archs proposed so far), NaN where not in the table."""
    out = traj.copy()
    out["true_value"] = true_values(table, out["arch_index"])
    best = out["best_so_far_index"].to_numpy()
    out["best_so_far_true"] = np.where(best >= 0, true_values(table, np.maximum(best, 0)), np.nan)
    out["visited_best_true"] = out["true_value"].cummax()
    return out


def judge(table: pd.Series, index: int | None, arch: str | None, space: Any = None) -> dict:
    """The found arch against the table: value, percentile, rank, gap to the table's best (see module docs).
    ``space``: the search space of the indices (default NB201)."""
    from ..benchmarks.spaces import get_space

    sp = get_space(space)
    best_idx = int(table.idxmax())
    out: dict[str, Any] = {
        "ground_truth": str(table.name), "n_archs": int(len(table)),
        "table_best_index": best_idx, "table_best_arch": sp.index_to_arch(best_idx),
        "table_best_value": float(table.loc[best_idx]), "table_median_value": float(table.median()),
        "found_index": index, "found_arch": arch, "in_table": index is not None and index in table.index,
    }
    if index is None:
        return out
    if out["in_table"]:
        value = float(table.loc[index])
        out.update(value=value, percentile=float(scipy.stats.percentileofscore(table.to_numpy(), value, kind="weak")),
                   rank=int((table.to_numpy() > value).sum()) + 1, gap_to_best=float(out["table_best_value"] - value))
    elif len(table) <= _MAX_EQUIV_SCAN and sp.name == "nb201":
        from ..benchmarks.nb201 import canonical_key

        key = canonical_key(index)
        same = [int(i) for i in table.index if canonical_key(int(i)) == key]
        out["equivalent_in_table"] = [{"arch_index": i, "value": float(table.loc[i])} for i in same]
    return out


# ---- training-based cost -----------------------------------------------------------------------------------------
def seconds_per_training_run(metadata: Mapping, n_rows: int | None = None) -> tuple[float, str] | None:
    """(seconds, how it was obtained) for one training run of the benchmark's protocol, or None."""
    compute = metadata.get("compute") if isinstance(metadata.get("compute"), Mapping) else {}
    proto = metadata.get("protocol") if isinstance(metadata.get("protocol"), Mapping) else {}
    ips, epochs = compute.get("median_images_per_s"), proto.get("epochs")
    images = proto.get("train_subset")
    if images is None:
        from ..benchmarks.datasets.registry import get_dataset

        try:
            images = get_dataset(str(proto.get("dataset", ""))).train_size
        except ValueError:
            images = None
    if ips and epochs and images:
        secs = float(epochs) * float(images) / float(ips)
        return secs, (f"{epochs:g} epoch(s) x {int(images):,} images / {float(ips):,.0f} images/s "
                      "(benchmark metadata: protocol, compute.median_images_per_s)")
    total = compute.get("total_train_seconds")
    if total and n_rows:
        return float(total) / n_rows, f"{float(total):,.0f} s / {n_rows} training runs (compute.total_train_seconds)"
    return None


def training_cost(n_archs: int, search_seconds: float, per_run: tuple[float, str] | None) -> dict | None:
    """The cost of training every arch the search evaluated, and its ratio to the proxy search's wall time."""
    if per_run is None:
        return None
    secs, basis = per_run
    total = n_archs * secs
    return {"archs_evaluated": int(n_archs), "seconds_per_run": secs, "training_search_s": total,
            "proxy_search_s": float(search_seconds),
            "ratio": total / search_seconds if search_seconds > 0 else math.inf, "basis": basis,
            "diswot_reference": dict(DISWOT_REFERENCE,
                                     ratio=DISWOT_REFERENCE["training_search_s"] / DISWOT_REFERENCE["proxy_search_s"])}


# ---- plot --------------------------------------------------------------------------------------------------------
def plot_trajectory(traj: pd.DataFrame, path: str | os.PathLike, *, title: str, fitness_label: str,
                    truth: dict | None = None) -> Path:
    """Best-so-far fitness over cycles and, with a ground truth, the true value of the best-so-far arch (PNG)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    has_truth = truth is not None and "best_so_far_true" in traj.columns
    fig, axes = plt.subplots(2 if has_truth else 1, 1, sharex=True, figsize=(7.5, 6.2 if has_truth else 3.6),
                             squeeze=False)
    ax = axes[0, 0]
    cyc = traj["cycle"].to_numpy()
    ok = np.isfinite(traj["score"].to_numpy())
    ax.scatter(cyc[ok], traj["score"].to_numpy()[ok], s=8, color="0.65", label="proposed arch", zorder=1)
    ax.step(cyc, traj["best_so_far_score"].to_numpy(), where="post", color="C0", lw=2, label="best so far",
            zorder=2)
    ax.set_ylabel(fitness_label)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    if has_truth:
        ax = axes[1, 0]
        ax.step(cyc, traj["best_so_far_true"].to_numpy(), where="post", color="C1", lw=2,
                label="true value of the best-so-far arch")
        ax.step(cyc, traj["visited_best_true"].to_numpy(), where="post", color="C2", lw=1.2, ls="--",
                label="best true value among archs proposed")
        ax.axhline(truth["table_best_value"], color="k", lw=1, ls=":",
                   label=f"table best ({truth['table_best_value']:.2f})")
        ax.axhline(truth["table_median_value"], color="0.5", lw=1, ls=":",
                   label=f"table median ({truth['table_median_value']:.2f})")
        missing = traj["best_so_far_true"].isna() & (traj["best_so_far_index"] >= 0)
        if missing.any():
            ax.text(0.01, 0.02, f"best-so-far arch not in the table on {int(missing.sum())} of {len(traj)} cycles",
                    transform=ax.transAxes, fontsize=7, color="0.35")
        ax.set_ylabel(str(truth["ground_truth"]))
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("cycle (architectures proposed)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
