"""The SQLite base of proxybench's run stores (the eval run store and the KD benchmark build store).

One database file per store, opened with

* the WAL journal: readers never block the writer, and several processes can share one store;
* ``synchronous=FULL``: a committed transaction survives a crash or a power cut;
* the subclass's :attr:`SQLiteStore.SCHEMA` (``CREATE TABLE IF NOT EXISTS ...``) created on open.

Writes go through :meth:`SQLiteStore.transaction` (``BEGIN IMMEDIATE`` ... ``COMMIT``, ``ROLLBACK`` on an
exception): the stores write each finished unit of work (one architecture and seed, one training run) in one
transaction, so a process killed at any instant leaves only whole units behind.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd


class _Transaction:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
        return False


class SQLiteStore:
    """A SQLite database with a fixed schema. Subclasses set :attr:`SCHEMA` and add their own queries.

    ``store.open()`` (or ``with store:``) connects and creates the schema; ``store.close()`` disconnects.
    """

    SCHEMA: str = ""
    """SQL run on open: the ``CREATE TABLE IF NOT EXISTS`` statements of the store's tables."""

    def __init__(self, path: str | os.PathLike, *, timeout: float = 30.0):
        self.path = Path(path)
        self.timeout = float(timeout)
        self.conn: sqlite3.Connection | None = None

    # ---- connection ---------------------------------------------------------------------------------------
    def open(self):
        """Connect (WAL journal, ``synchronous=FULL``) and create the schema; returns the store."""
        if self.conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=self.timeout, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                if self.SCHEMA:
                    conn.executescript(self.SCHEMA)
            except BaseException:
                conn.close()
                raise
            self.conn = conn
        return self

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def _connection(self) -> sqlite3.Connection:
        if self.conn is None:
            raise RuntimeError(f"store {self.path} is not open")
        return self.conn

    # ---- reading and writing ---------------------------------------------------------------------------------
    def transaction(self) -> _Transaction:
        """``with store.transaction() as conn:`` -- BEGIN IMMEDIATE ... COMMIT (ROLLBACK on an exception)."""
        return _Transaction(self._connection())

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """All rows of a ``SELECT``."""
        return self._connection().execute(sql, params).fetchall()

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], *,
               replace: bool = False) -> None:
        """Insert ``rows`` (values in the order of ``columns``) into ``table`` in one transaction; ``replace=True``
        replaces rows with the same primary key (``INSERT OR REPLACE``)."""
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        sql = f"{verb} INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        with self.transaction() as conn:
            conn.executemany(sql, [list(r) for r in rows])

    def read_frame(self, sql: str, params: Sequence[Any] = (), columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The rows of a ``SELECT`` as a DataFrame, restricted to and ordered as ``columns`` when given."""
        df = pd.read_sql_query(sql, self._connection(), params=list(params))
        return df[list(columns)] if columns is not None else df


__all__ = ["SQLiteStore"]
