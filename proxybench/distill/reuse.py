"""Reusing finished runs across KD builds: vanilla students do not depend on the KD recipe.

A build whose protocol differs from an earlier build's only in KD-only fields (alpha, temperature, distiller and its
options, teacher: :meth:`Protocol.vanilla_key`) would retrain exactly the same vanilla students. :func:`reuse_vanilla`
copies those runs (same arch, seed) into the new build's store instead, keeping their measured figures and their
source's ``protocol_key``, so a table can always tell reused runs from its own.
"""

from __future__ import annotations

from pathlib import Path

from .protocol import KD_ONLY_FIELDS, Protocol
from .runstore import RunStore


def reuse_vanilla(source_dir: str | Path, store, protocol: Protocol, plan: list[dict]) -> int:
    """Copy the vanilla runs of ``source_dir`` that ``plan`` needs and ``store`` lacks; returns how many.

    Raises ``ValueError`` when the source's vanilla protocol differs (naming the differing fields)."""
    source_dir = Path(source_dir)
    if not (source_dir / "runs.sqlite").exists() or not (source_dir / "protocol.json").exists():
        raise FileNotFoundError(f"{source_dir} is not a kd-bench build directory (needs runs.sqlite and "
                                "protocol.json)")
    src_protocol = Protocol.from_file(source_dir / "protocol.json")
    if src_protocol.vanilla_key() != protocol.vanilla_key():
        ours, theirs = protocol.to_dict(), src_protocol.to_dict()
        diff = sorted(k for k in ours if ours[k] != theirs.get(k) and k not in ("name", "notes", *KD_ONLY_FIELDS))
        raise ValueError(f"cannot reuse vanilla runs from {source_dir}: its vanilla protocol differs in {diff}")
    wanted = {(r["arch_index"], r["seed"]) for r in plan if r["mode"] == "vanilla"}
    have = store.done()
    src = RunStore(source_dir / "runs.sqlite")
    try:
        rows = src.frame()
    finally:
        src.close()
    n = 0
    for row in rows[rows["mode"] == "vanilla"].to_dict(orient="records"):
        key = (int(row["arch_index"]), int(row["seed"]))
        if key in wanted and (*key, "vanilla") not in have:
            store.add(row)
            n += 1
    return n
