"""Regularized (aging) evolution (Real, Aggarwal, Huang & Le, "Regularized Evolution for Image Classifier
Architecture Search", AAAI 2019, Algorithm 1) over the architectures of a search space (NB201 cells, S1 ResNets).

::

    population <- P valid cells drawn uniformly, each scored            (cycles 1..P, phase "init")
    while fewer than C archs have been proposed:
        sample   <- S members of the population drawn uniformly, with replacement
        parent   <- the sample member of highest fitness (the first drawn wins ties)
        child    <- a valid single-step mutant of parent                (phase "mutation"; "restart" if none)
        score child (cached per arch), append it to the population, remove the *oldest* member

``C`` counts every proposal, the initial population included, as Real et al.'s ``while len(history) < cycles``.
Defaults P=10, S=3 are NATS-Bench's settings for REA on NB201. A single step is the space's mutation (NB201: one
edge's op; S1: one stage's depth). Every random draw comes from one
``random.Random(seed)``, so a seed fixes the trajectory (the fitness of a cell being deterministic).
"""

from __future__ import annotations

import collections
import random

import numpy as np

from .fitness import ScoreBook
from .space import SearchDomain

DEFAULT_POPULATION = 10
DEFAULT_SAMPLE = 3
DEFAULT_CYCLES = 100


def check_evolution(population: int, sample: int, cycles: int) -> None:
    for name, value in (("population", population), ("sample", sample), ("cycles", cycles)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if sample > population:
        raise ValueError(f"sample (tournament size) {sample} exceeds population {population}; valid: 1..{population}")
    if cycles < population:
        raise ValueError(f"cycles {cycles} < population {population}: cycles counts every arch proposed, the initial "
                         f"population included, so it must be >= {population}")


def regularized_evolution(space: SearchDomain, book: ScoreBook, rng: random.Random, *,
                          population: int = DEFAULT_POPULATION, sample: int = DEFAULT_SAMPLE,
                          cycles: int = DEFAULT_CYCLES) -> ScoreBook:
    """Run aging evolution until ``cycles`` archs have been proposed to ``book`` (see the module docstring)."""
    check_evolution(population, sample, cycles)
    pop: collections.deque[int] = collections.deque()
    while len(pop) < population:
        index = space.random_index(rng)
        book.propose(index, "init")
        pop.append(index)
    while book.n_proposed < cycles:
        candidates = [pop[rng.randrange(len(pop))] for _ in range(sample)]
        parent = candidates[int(np.argmax(book.values(candidates)))]
        child, phase = space.mutate(parent, rng)
        book.propose(child, phase, parent=parent)
        pop.append(child)
        pop.popleft()
    return book
