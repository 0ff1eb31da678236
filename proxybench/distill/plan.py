"""The runs of a KD build, in build order: ``(arch_index, arch, seed, mode)`` rows (``plan.json``).

The architectures come from the caller: ``kd-bench build --archs N`` samples N unique, non-zero cells with
:func:`proxybench.benchmarks.nb201.sample_indices`, ``--archs FILE`` reads them with :func:`read_arch_file`. A
build keeps its first plan and only appends runs a later one adds, so run ids never change under it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..benchmarks import nb201
from ..benchmarks.nb201.archfile import read_arch_indices
from .protocol import MODES


def plan_runs(archs: Sequence[int], seeds: int = 1, noise_archs: int = 0, noise_seeds: int = 3,
              modes: Sequence[str] = MODES) -> list[dict]:
    """Runs in build order: every arch at seeds ``0..seeds-1`` (all modes), in the given order; the first
    ``noise_archs`` archs also get seeds up to ``noise_seeds - 1``, and those extra runs are spread evenly
    through the build (noise arch ``j``'s extra seeds come right after arch ``(j + 1) * len(archs) //
    noise_archs``), so a partial build already has both many archs and a growing noise-floor subset."""
    for m in modes:
        if m not in MODES:
            raise ValueError(f"unknown mode {m!r}; valid: {', '.join(MODES)}")
    if seeds < 1 or noise_seeds < 1 or noise_archs < 0:
        raise ValueError(f"seeds ({seeds}) and noise_seeds ({noise_seeds}) must be >= 1, noise_archs >= 0")
    if noise_archs > len(archs):
        raise ValueError(f"noise_archs ({noise_archs}) exceeds the number of archs ({len(archs)})")

    def runs(i: int, seed_range) -> list[dict]:
        arch = nb201.index_to_arch(int(i))
        return [{"arch_index": int(i), "arch": arch, "seed": s, "mode": m} for s in seed_range for m in modes]

    after: dict[int, list[int]] = {}
    for j in range(noise_archs):
        after.setdefault((j + 1) * len(archs) // noise_archs - 1, []).append(j)
    plan = []
    for k, i in enumerate(archs):
        plan += runs(i, range(seeds))
        for j in after.get(k, []):
            plan += runs(archs[j], range(seeds, max(seeds, noise_seeds)))
    return plan



def read_arch_file(path: str | Path) -> list[int]:
    """Official indices of the cells a file lists: indices or arch strings, one per line ('#' comments allowed)."""
    return read_arch_indices(path, "architecture file")
