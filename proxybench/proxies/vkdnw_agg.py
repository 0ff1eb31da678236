"""The VKDNW_agg score (Tybl & Neumann, CVPR 2025): a rank aggregation over a population of networks.

VKDNW_agg combines five per-network scores by the log of the product of their ranks (the non-linear aggregation
of AZ-NAS, with VKDNW_single in place of progressivity and Jacov added):

    s_agg(A) = sum_m log( rank_m(A) / N ),
    m in {VKDNW_single, Jacov, AZ-NAS expressivity, AZ-NAS trainability, FLOPs},

rank_m ascending in 1..N (ties share their average rank, ``scipy.stats.rankdata``), N the population size. The
authors' code sums log(rank) without the 1/N (a constant shift: the same ranking) and ranks VKDNW_single with
dense ranks of (aleph, VKDNW) pairs (the same as average ranks when no two networks tie). VKDNW_single already
carries the size term aleph, and FLOPs enters as a further component. Because the score of one network depends
on the others, VKDNW_agg is not a registered proxy: score the five component proxies (:data:`COMPONENTS`) on
every candidate, then call :func:`vkdnw_aggregate` on the population. The paper also fits a random forest on
proxy ranks ("model-driven" aggregation); that needs trained accuracies and is not this score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .aznas import aznas_aggregate

COMPONENTS = ("vkdnw_single", "jacov", "aznas_expressivity", "aznas_trainability", "aznas_complexity")
"""The proxybench proxies behind VKDNW_agg's five ranks (``aznas_complexity`` is the FLOP count)."""


def vkdnw_aggregate(components: Mapping[str, Sequence[float]]) -> np.ndarray:
    """VKDNW_agg scores of a population: sum over :data:`COMPONENTS` of log(rank / N), one float per network
    (<= 0; higher is better).

    ``components``: proxy name -> one raw value per network (same order, same length), higher = better as the
    proxies report them (FLOPs ranked ascending, as the authors). All five are required; extra keys are ignored.
    -inf ranks lowest; NaN is not allowed (a NaN has no rank: drop those networks, or map NaN to -inf as the
    authors' pandas ranking effectively leaves them out).
    """
    missing = [c for c in COMPONENTS if c not in components]
    if missing:
        raise ValueError(f"vkdnw_aggregate needs all of {', '.join(COMPONENTS)}; missing {', '.join(missing)}")
    return aznas_aggregate({c: components[c] for c in COMPONENTS})
