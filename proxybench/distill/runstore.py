"""The store of a KD build: one SQLite row per finished (arch, seed, mode) run, each in its own transaction, and
``runs.csv``, the same rows as text, rewritten atomically."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..io import write_text
from ..sqlstore import SQLiteStore

RUN_COLUMNS = ("arch_index", "arch", "seed", "mode", "test_acc", "best_test_acc", "train_loss", "train_acc",
               "seconds", "images_per_s", "steps", "images", "diverged", "device", "threads", "torch",
               "protocol_key", "finished_at")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    arch_index INTEGER NOT NULL, arch TEXT NOT NULL, seed INTEGER NOT NULL, mode TEXT NOT NULL,
    test_acc REAL, best_test_acc REAL, train_loss REAL, train_acc REAL, seconds REAL, images_per_s REAL,
    steps INTEGER, images INTEGER, diverged INTEGER, device TEXT, threads INTEGER, torch TEXT,
    protocol_key TEXT, finished_at TEXT,
    PRIMARY KEY (arch_index, seed, mode)
)"""


class RunStore(SQLiteStore):
    """SQLite store of finished runs (WAL; one transaction per run)."""

    SCHEMA = _SCHEMA

    def __init__(self, path: str | Path):
        super().__init__(path, timeout=60)
        self.open()

    def done(self) -> set[tuple[int, int, str]]:
        return {(a, s, m) for a, s, m in self.query("SELECT arch_index, seed, mode FROM runs")}

    def add(self, row: dict) -> None:
        self.insert("runs", RUN_COLUMNS, [[row[c] for c in RUN_COLUMNS]], replace=True)  # one transaction

    def frame(self) -> pd.DataFrame:
        return self.read_frame("SELECT * FROM runs ORDER BY finished_at, arch_index, seed, mode", columns=RUN_COLUMNS)


def write_runs_csv(store: RunStore, path: Path) -> None:
    write_text(path, store.frame().to_csv(index=False, float_format="%.4f"))
