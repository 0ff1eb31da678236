"""The shared infrastructure: atomic writes and tables (proxybench.io), the integer validator (proxybench.checks)
and the SQLite store base (proxybench.sqlstore)."""

from __future__ import annotations

import json
import math
import os
import stat
import threading

import numpy as np
import pandas as pd
import pytest

from proxybench import io
from proxybench.checks import check_choice, check_int
from proxybench.sqlstore import SQLiteStore


def test_atomic_write_replaces_whole_files_and_leaves_nothing_behind(tmp_path):
    path = tmp_path / "sub" / "a.txt"
    io.write_text(path, "first")
    assert path.read_text() == "first" and sorted(os.listdir(path.parent)) == ["a.txt"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600
    with pytest.raises(RuntimeError, match="boom"), io.atomic_open(path, "w") as fh:
        fh.write("half a file")
        raise RuntimeError("boom")
    assert path.read_text() == "first" and sorted(os.listdir(path.parent)) == ["a.txt"]
    io.write_bytes(path, b"\x00second")
    assert path.read_bytes() == b"\x00second"
    with pytest.raises(IsADirectoryError):
        io.write_text(tmp_path, "x")
    with pytest.raises(ValueError, match="mode must be"):
        with io.atomic_open(path, "a"):
            pass


def test_json_helpers(tmp_path):
    obj = {"a": np.int64(3), "b": np.float32(0.5), "c": math.nan, "d": (1, 2), "e": {3, 1}, "f": tmp_path,
           "g": np.array([1, 2]), "h": np.bool_(True), 4: None}
    path = io.write_json(tmp_path / "x.json", obj)
    back = io.read_json(path)
    assert back == {"a": 3, "b": 0.5, "c": None, "d": [1, 2], "e": [1, 3], "f": str(tmp_path), "g": [1, 2],
                    "h": True, "4": None}
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="invalid JSON"):
        io.read_json(tmp_path / "bad.json")
    assert json.loads(io.dumps([np.float64("inf")])) == [None]


def test_write_table_csv_and_parquet_with_mixed_types(tmp_path):
    df = pd.DataFrame({"x": [1, 2, 3], "mixed": pd.Series([0, "avg", None], dtype=object), "s": ["a", "b", "c"]})
    csv = io.write_table(df, tmp_path / "t.csv", float_format="%.2f")
    assert csv.read_text().splitlines()[0] == "x,mixed,s"
    pq = io.write_table(df, tmp_path / "t.parquet")  # an object column of int and str needs the text fix
    back = pd.read_parquet(pq)
    assert back["mixed"].tolist()[:2] == ["0", "avg"] and back["mixed"].isna().iloc[2]
    assert io.write_tables(df, tmp_path / "out", "t", ["csv", "parquet"]) == [tmp_path / "out" / "t.csv",
                                                                              tmp_path / "out" / "t.parquet"]
    with pytest.raises(ValueError, match="unknown table format 'xlsx'"):
        io.write_table(df, tmp_path / "t.xlsx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "t.csv", "t.parquet"]


@pytest.mark.parametrize("value, kwargs, expect", [
    (3, {}, 3), (np.int16(4), {"minimum": 1}, 4), ("5", {"parse": True}, 5), ("+6", {"parse": True}, 6),
    (7.0, {"parse": True}, 7), (0, {"minimum": 0}, 0),
])
def test_check_int_accepts(value, kwargs, expect):
    out = check_int(value, "n", **kwargs)
    assert out == expect and type(out) is int


@pytest.mark.parametrize("value, kwargs, message", [
    (True, {"minimum": 0}, "n must be an integer >= 0, got True"),
    (2.0, {"minimum": 1}, "n must be an integer >= 1, got 2.0"),
    ("5", {}, "n must be an integer, got '5'"),
    (2.5, {"parse": True, "minimum": 1}, "n must be an integer >= 1, got 2.5"),
    ("5.0", {"parse": True}, "n must be an integer, got '5.0'"),
    (0, {"minimum": 1, "expected": "a positive integer"}, "n must be a positive integer, got 0"),
])
def test_check_int_refuses(value, kwargs, message):
    with pytest.raises(ValueError) as exc:
        check_int(value, "n", **kwargs)
    assert str(exc.value) == message


def test_check_choice():
    assert check_choice("a", ("a", "b"), "mode") == "a"
    with pytest.raises(ValueError, match="unknown mode 'c'; valid: a, b"):
        check_choice("c", ("a", "b"), "mode")


class _Rows(SQLiteStore):
    SCHEMA = "CREATE TABLE IF NOT EXISTS rows (k INTEGER PRIMARY KEY, v TEXT NOT NULL);"


def test_sqlite_store_base(tmp_path):
    path = tmp_path / "deep" / "s.sqlite"
    with _Rows(path) as store:
        assert store.query("PRAGMA journal_mode")[0][0] == "wal"
        assert store.query("PRAGMA synchronous")[0][0] == 2  # FULL
        store.insert("rows", ("k", "v"), [(1, "a"), (2, "b")])
        store.insert("rows", ("k", "v"), [(2, "B")], replace=True)
        with pytest.raises(Exception, match="UNIQUE"):
            store.insert("rows", ("k", "v"), [(3, "c"), (1, "dup")])  # one transaction: 3 is not kept either
        assert store.read_frame("SELECT * FROM rows ORDER BY k").to_dict("list") == {"k": [1, 2], "v": ["a", "B"]}
        with pytest.raises(RuntimeError), store.transaction() as conn:
            conn.execute("INSERT INTO rows VALUES (9, 'z')")
            raise RuntimeError("rolled back")
        assert store.query("SELECT COUNT(*) FROM rows")[0][0] == 2
        assert list(store.read_frame("SELECT * FROM rows", columns=["v"]).columns) == ["v"]
    assert store.conn is None
    with pytest.raises(RuntimeError, match="not open"):
        store.query("SELECT 1")
    # a second connection (another process would do the same) sees every committed row
    other = _Rows(path).open()
    seen = []
    t = threading.Thread(target=lambda: seen.append(_Rows(path).open().query("SELECT COUNT(*) FROM rows")[0][0]))
    t.start()
    t.join()
    assert seen == [2] and other.query("SELECT v FROM rows WHERE k = 1") == [("a",)]
    other.close()


def test_the_two_run_stores_share_the_base():
    from proxybench.distill.kdbench import RunStore as BuildStore
    from proxybench.engine.store import RunStore as EvalStore

    assert issubclass(EvalStore, SQLiteStore) and issubclass(BuildStore, SQLiteStore)
    assert "CREATE TABLE" in EvalStore.SCHEMA and "CREATE TABLE" in BuildStore.SCHEMA
