"""Random search: ``cycles`` valid cells drawn uniformly (with replacement; a repeat is served from the cache),
the best by fitness is the result. The baseline of Real et al. (AAAI 2019) and of NAS-Bench-201."""

from __future__ import annotations

import random

from .fitness import ScoreBook
from .space import SearchDomain


def random_search(space: SearchDomain, book: ScoreBook, rng: random.Random, *, cycles: int = 100) -> ScoreBook:
    """Propose ``cycles`` uniformly drawn valid cells to ``book``."""
    if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 1:
        raise ValueError(f"cycles must be an integer >= 1, got {cycles!r}")
    while book.n_proposed < cycles:
        book.propose(space.random_index(rng), "random")
    return book
