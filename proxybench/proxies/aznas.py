"""The combined AZ-NAS score (Lee & Ham, CVPR 2024): a rank aggregation over a population of networks.

AZ-NAS does not give one network a number on its own: each component is ranked across the candidates and the
ranks are combined non-linearly,

    s_AZ(A) = sum_m log( rank_m(A) / N ),   m in {expressivity, progressivity, trainability, complexity},

rank_m ascending in 1..N (ties share their average rank, ``scipy.stats.rankdata``), N the population size. The
log makes one bad component hard to make up for with the others. So it is not a registered proxy: score the four
``aznas_*`` proxies on every candidate, then call :func:`aznas_aggregate` on the population.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.stats import rankdata

COMPONENTS = ("aznas_expressivity", "aznas_progressivity", "aznas_trainability", "aznas_complexity")


def aznas_aggregate(components: Mapping[str, Sequence[float]]) -> np.ndarray:
    """AZ-NAS scores of a population, ``components``: name -> one value per network (same order, same length).

    Values are the raw proxy values, higher = better (as the four ``aznas_*`` proxies report them; the authors'
    complexity is FLOPs, ranked ascending). -inf ranks lowest; NaN is not allowed (drop or fix those networks
    first: a NaN has no rank). Returns sum_m log(rank_m / N), one float per network (<= 0; higher is better).
    """
    if not components:
        raise ValueError("aznas_aggregate needs at least one component; typical: " + ", ".join(COMPONENTS))
    arrays = {}
    for name, values in components.items():
        a = np.asarray(values, dtype=np.float64)
        if a.ndim != 1 or a.size == 0:
            raise ValueError(f"component {name!r} must be a non-empty 1-D sequence, got shape {a.shape}")
        if np.isnan(a).any():
            raise ValueError(f"component {name!r} has NaN at positions {np.flatnonzero(np.isnan(a)).tolist()}; "
                             "a NaN has no rank")
        arrays[name] = a
    sizes = {a.size for a in arrays.values()}
    if len(sizes) != 1:
        raise ValueError(f"components must have one value per network each, got lengths "
                         f"{ {k: a.size for k, a in arrays.items()} }")
    n = sizes.pop()
    return sum(np.log(rankdata(a) / n) for a in arrays.values())
