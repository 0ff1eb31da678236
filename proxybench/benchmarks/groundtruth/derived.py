"""Ground truths derived from others when a table is loaded: the KD gain of every KD benchmark.

``kd_gain`` = ``kd_acc`` − ``vanilla_acc`` of the same architecture, data set and training seed (points), for every
data set of a table that has both metrics and no ``kd_gain`` of its own; pairs are matched per seed, so the gain
keeps the seeds of its runs and its reliability (ICC, seed-to-seed tau) can be measured like any other metric's.
"""

from __future__ import annotations

import pandas as pd

KD_GAIN, KD_ACC, VANILLA_ACC = "kd_gain", "kd_acc", "vanilla_acc"


def with_kd_gain(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (tidy ground truth) with ``kd_gain`` rows added where it has ``kd_acc`` and ``vanilla_acc`` for the
    same (arch_index, dataset, seed); unchanged (the same object) when there is nothing to add."""
    metrics = table["metric"]
    if not ((metrics == KD_ACC).any() and (metrics == VANILLA_ACC).any()):
        return table
    have_gain = set(table.loc[metrics == KD_GAIN, "dataset"])
    keys = ["arch_index", "arch", "dataset", "seed"]
    kd = table[(metrics == KD_ACC) & ~table["dataset"].isin(have_gain)]
    van = table[(metrics == VANILLA_ACC) & ~table["dataset"].isin(have_gain)]
    both = kd[keys + ["value"]].merge(van[keys + ["value"]], on=keys, suffixes=("_kd", "_vanilla"))
    if both.empty:
        return table
    gain = both[keys].assign(metric=KD_GAIN, value=both["value_kd"] - both["value_vanilla"])[table.columns]
    out = pd.concat([table, gain.astype(table.dtypes.to_dict())], ignore_index=True)
    return out.sort_values(["dataset", "metric", "arch_index", "seed"], kind="stable").reset_index(drop=True)
