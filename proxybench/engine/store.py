"""The run store: one SQLite database (WAL journal) per run directory.

Tables
------
``meta``    key/value text: the run's *identity* (every setting that changes a score, as JSON), its creation
            time and the versions that wrote it.
``units``   one row per finished (arch_index, seed): the unit of work. Its wall time, effective batch size,
            the worker that scored it.
``scores``  one row per (arch_index, proxy, seed): score, seconds, status (``ok`` | ``nan`` | ``error``) and
            the error message. Primary key (arch_index, proxy, seed): nothing can be stored twice.

All rows of one unit (every proxy of one architecture and seed) are written in one transaction, so a run
killed at any instant leaves only whole units behind; re-opening the store with the same identity resumes
(what is done is skipped), with a different identity is refused with the keys that differ.

The WAL journal, the schema and the transactions come from :class:`proxybench.sqlstore.SQLiteStore`. Only the
process that owns the run writes; workers return results to it. An advisory lock file
(``store.lock``, :func:`fcntl.flock`) keeps a second process from writing to the same run at the same time.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..schema import SCORES
from ..sqlstore import SQLiteStore

STORE_NAME = "store.sqlite"
LOCK_NAME = "store.lock"
SCHEMA_VERSION = 1
SCORE_COLUMNS = list(SCORES.names)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS units (
    arch_index INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    arch TEXT NOT NULL,
    seconds REAL NOT NULL,
    build_seconds REAL NOT NULL,
    batch_size INTEGER NOT NULL,
    worker TEXT NOT NULL,
    finished_at REAL NOT NULL,
    PRIMARY KEY (arch_index, seed)
);
CREATE TABLE IF NOT EXISTS scores (
    arch_index INTEGER NOT NULL,
    arch TEXT NOT NULL,
    proxy TEXT NOT NULL,
    seed INTEGER NOT NULL,
    score REAL,
    seconds REAL NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'nan', 'error')),
    error TEXT NOT NULL DEFAULT '',
    batch_size INTEGER NOT NULL,
    PRIMARY KEY (arch_index, proxy, seed)
);
"""


class ConfigMismatchError(ValueError):
    """The run directory was started with another configuration (bad input: exit status 2)."""


class StoreUnusableError(ValueError):
    """The run directory's store cannot be used (corrupt, empty, unwritable): exit status 2, with the way out."""


class StoreBusyError(RuntimeError):
    """Another process is writing to the same run directory."""


@dataclass
class UnitResult:
    """Everything a worker returns for one (architecture, seed)."""

    arch_index: int
    arch: str
    seed: int
    results: list[tuple[str, float, float, str, str, int]]  # (proxy, score, seconds, status, error, batch size)
    seconds: float
    build_seconds: float
    batch_size: int
    worker: str


def _json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def diff_identity(stored: Mapping, current: Mapping, prefix: str = "") -> list[str]:
    """Human-readable differences between two identity dicts (nested dicts are compared key by key)."""
    out = []
    for key in sorted(set(stored) | set(current)):
        name = f"{prefix}{key}"
        a, b = stored.get(key, "<absent>"), current.get(key, "<absent>")
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += diff_identity(a, b, prefix=f"{name}.")
        elif _json(a) != _json(b):
            out.append(f"{name}: {a!r} (stored) vs {b!r} (now)")
    return out


_WAY_OUT = ("Choose another --out for a new run, or re-run with --restart to move the old store aside "
            "(renamed to store.sqlite.old-<time>, never deleted) and start over in this directory")


class RunStore(SQLiteStore):
    """The SQLite store of one run directory. Use as a context manager (it holds the directory's lock)."""

    SCHEMA = _SCHEMA

    def __init__(self, run_dir: str | os.PathLike, identity: Mapping, *, versions: Mapping | None = None,
                 restart: bool = False, command: list[str] | None = None):
        super().__init__(Path(run_dir) / STORE_NAME, timeout=30.0)
        self.command = list(command) if command else None
        self.run_dir = Path(run_dir)
        self.identity = dict(identity)
        self.versions = dict(versions or {})
        self.restart = bool(restart)
        self.resumed = False
        self.moved_aside: list[Path] = []
        self.version_notes: list[str] = []
        self._lock_fd: int | None = None

    # ---- opening --------------------------------------------------------------------------------------
    def open(self) -> RunStore:
        self._check_writable()
        self._acquire_lock()
        try:
            if self.restart:
                self._move_aside()
            elif self.path.exists() and self.path.stat().st_size == 0:
                raise StoreUnusableError(
                    f"{self.path} is empty (0 bytes): it holds no results but is not a store either. "
                    f"{_WAY_OUT}")
            try:
                super().open()
                self._check_integrity()
                self._check_identity()
            except sqlite3.DatabaseError as exc:
                raise StoreUnusableError(f"{self.path} is not a readable run store ({exc}). {_WAY_OUT}") from None
        except BaseException:
            self.close()
            raise
        return self

    def _check_writable(self) -> None:
        """The run directory (made when missing) must be writable: refuse with the way out, not a traceback."""
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnusableError(f"cannot create the run directory {self.run_dir}: {exc.strerror or exc}; "
                                     "choose another --out") from None
        unwritable = [p for p in (self.run_dir, self.path) if p.exists() and not os.access(p, os.W_OK)]
        if unwritable:
            raise StoreUnusableError(f"{unwritable[0]} is not writable (read-only run directory or store): "
                                     "choose another --out, or make it writable to resume")

    def _check_integrity(self) -> None:
        rows = self.query("PRAGMA quick_check")
        if [r[0] for r in rows] != ["ok"]:
            raise sqlite3.DatabaseError("; ".join(str(r[0]) for r in rows[:3]))

    def _move_aside(self) -> None:
        """``--restart``: rename the store (and its WAL files) to ``store.sqlite.old-<time>``; nothing is deleted."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for suffix in ("", "-wal", "-shm"):
            src = self.path.with_name(self.path.name + suffix)
            if src.exists():
                dst = src.with_name(f"{self.path.name}.old-{stamp}{suffix}")
                n = 1
                while dst.exists():
                    dst = src.with_name(f"{self.path.name}.old-{stamp}-{n}{suffix}")
                    n += 1
                src.rename(dst)
                self.moved_aside.append(dst)

    def _acquire_lock(self) -> None:
        import fcntl

        try:
            fd = os.open(self.run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError:
            raise StoreUnusableError(f"{self.run_dir / LOCK_NAME} cannot be written (read-only run directory): "
                                     "choose another --out, or make it writable to resume") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise StoreBusyError(f"run directory {self.run_dir} is being written by {holder}; wait for it to "
                                 "finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _meta(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def _check_identity(self) -> None:
        stored = self._meta("identity")
        if stored is None:
            self.insert("meta", ("key", "value"), [
                ("schema_version", str(SCHEMA_VERSION)),
                ("identity", _json(self.identity)),
                ("created", str(time.time())),
                ("versions", _json(self.versions)),
                *([("command", _json(self.command))] if self.command else []),
            ])
            return
        schema = int(self._meta("schema_version") or 0)
        if schema != SCHEMA_VERSION:
            raise ConfigMismatchError(f"{self.path} has store schema {schema}; this proxybench writes schema "
                                      f"{SCHEMA_VERSION}; choose another --out")
        diffs = diff_identity(json.loads(stored), json.loads(_json(self.identity)))
        if diffs:
            raise ConfigMismatchError(
                f"run directory {self.run_dir} was started with a different configuration; differing keys: "
                + "; ".join(diffs) + ". Re-run with the same settings to resume, or choose another --out")
        old_versions = json.loads(self._meta("versions") or "{}")
        for k in sorted(set(old_versions) & set(self.versions)):
            if old_versions[k] != self.versions[k]:
                self.version_notes.append(f"{k} {old_versions[k]} wrote part of this run, {self.versions[k]} "
                                          "resumes it")
        self.resumed = True

    def close(self) -> None:
        super().close()
        if self._lock_fd is not None:
            import fcntl

            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # ---- queries ----------------------------------------------------------------------------------------
    def done(self) -> dict[tuple[int, int], set[str]]:
        """(arch_index, seed) -> the proxies stored for it."""
        out: dict[tuple[int, int], set[str]] = {}
        for a, s, p in self.query("SELECT arch_index, seed, proxy FROM scores"):
            out.setdefault((int(a), int(s)), set()).add(p)
        return out

    def n_units(self) -> int:
        return int(self.query("SELECT COUNT(*) FROM units")[0][0])

    def scores(self, arch_indices: Iterable[int] | None = None, proxies: Iterable[str] | None = None,
               seeds: Iterable[int] | None = None) -> pd.DataFrame:
        """The tidy scores table (columns :data:`SCORE_COLUMNS`), optionally restricted to a selection, sorted
        by (arch_index, seed, proxy)."""
        df = self.read_frame(f"SELECT {', '.join(SCORE_COLUMNS)} FROM scores")
        if arch_indices is not None:
            df = df[df["arch_index"].isin(list(arch_indices))]
        if proxies is not None:
            df = df[df["proxy"].isin(list(proxies))]
        if seeds is not None:
            df = df[df["seed"].isin(list(seeds))]
        df = df.astype({"arch_index": "int64", "seed": "int64", "score": "float64", "seconds": "float64"})
        df["error"] = df["error"].fillna("").astype(str)
        return df.sort_values(["arch_index", "seed", "proxy"], kind="stable").reset_index(drop=True)

    def units(self) -> pd.DataFrame:
        return self.read_frame("SELECT * FROM units ORDER BY arch_index, seed")

    # ---- writing ----------------------------------------------------------------------------------------
    def add_unit(self, unit: UnitResult) -> None:
        """Store every score of one (arch, seed) in one transaction."""
        rows = [(unit.arch_index, unit.arch, proxy, unit.seed, _sql_float(score), float(seconds), status,
                 error or "", int(size)) for proxy, score, seconds, status, error, size in unit.results]
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO scores (arch_index, arch, proxy, seed, score, seconds, status, error, batch_size) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            conn.execute(
                "INSERT INTO units (arch_index, seed, arch, seconds, build_seconds, batch_size, worker, finished_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (arch_index, seed) DO UPDATE SET "
                "seconds = units.seconds + excluded.seconds, build_seconds = units.build_seconds + "
                "excluded.build_seconds, batch_size = MIN(units.batch_size, excluded.batch_size), "
                "finished_at = excluded.finished_at",
                (unit.arch_index, unit.seed, unit.arch, float(unit.seconds), float(unit.build_seconds),
                 int(unit.batch_size), unit.worker, time.time()))


def _sql_float(v: float) -> float | None:
    """SQLite stores NaN as NULL; +-inf is kept."""
    v = float(v)
    return None if v != v else v


def interrupted_run_hint(run_dir: str | os.PathLike) -> str | None:
    """For a directory holding a store but no scores table (an interrupted ``eval``): how to resume it."""
    run_dir = Path(run_dir)
    path = run_dir / STORE_NAME
    if not path.is_file() or any((run_dir / f"scores.{ext}").exists() for ext in ("csv", "parquet")):
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            units = int(conn.execute("SELECT COUNT(*) FROM units").fetchone()[0])
            row = conn.execute("SELECT value FROM meta WHERE key = 'command'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return (f"{run_dir} holds an unfinished run whose store {path} cannot be read; run 'proxybench eval' "
                f"again with --out {run_dir} --restart to start it over (the old store is kept)")
    cmd = " ".join(json.loads(row[0])) if row else f"proxybench eval <the same options> --out {run_dir}"
    return (f"{run_dir} holds an interrupted run ({units} (arch, seed) units stored, no scores.csv yet); resume "
            f"it with the command that started it:\n  {cmd}\nthen run 'proxybench report {run_dir}' again")
