"""The SQLite run store: identity checks, one transaction per unit, no duplicates, the directory lock."""

from __future__ import annotations

import math
import sqlite3

import pytest

from proxybench.engine.store import (
    SCORE_COLUMNS,
    ConfigMismatchError,
    RunStore,
    StoreBusyError,
    UnitResult,
    diff_identity,
)

IDENT = {"benchmark": "tiny", "data": {"dataset": "fashion-mnist-sample", "batch_size": 8}, "device": "cpu"}


def _unit(idx: int, seed: int = 0, proxies=("a", "b"), score=1.0) -> UnitResult:
    return UnitResult(arch_index=idx, arch=f"arch{idx}", seed=seed,
                      results=[(p, score + k, 0.01, "ok", "", 8) for k, p in enumerate(proxies)],
                      seconds=0.1, build_seconds=0.01, batch_size=8, worker="test")


def test_roundtrip_and_resume(tmp_path):
    with RunStore(tmp_path, IDENT, versions={"torch": "x"}) as st:
        assert not st.resumed
        st.add_unit(_unit(3))
        st.add_unit(_unit(1, seed=1))
        nan_unit = UnitResult(5, "arch5", 0, [("a", math.nan, 0.0, "nan", "", 8),
                                                 ("b", math.nan, 0.0, "error", "ValueError: boom", 8)],
                              0.1, 0.0, 8, "test")
        st.add_unit(nan_unit)
    with RunStore(tmp_path, IDENT, versions={"torch": "y"}) as st:
        assert st.resumed
        assert st.version_notes and "torch x" in st.version_notes[0]
        assert st.done() == {(3, 0): {"a", "b"}, (1, 1): {"a", "b"}, (5, 0): {"a", "b"}}
        df = st.scores()
        assert list(df.columns) == SCORE_COLUMNS
        assert df[["arch_index", "seed", "proxy"]].values.tolist() == [
            [1, 1, "a"], [1, 1, "b"], [3, 0, "a"], [3, 0, "b"], [5, 0, "a"], [5, 0, "b"]]
        assert df.loc[(df.arch_index == 3) & (df.proxy == "b"), "score"].item() == 2.0
        five = df[df.arch_index == 5].set_index("proxy")
        assert math.isnan(five.loc["a", "score"]) and five.loc["b", "status"] == "error"
        assert five.loc["b", "error"] == "ValueError: boom" and five.loc["a", "error"] == ""
        assert len(st.scores(arch_indices=[1, 3], proxies=["a"], seeds=[0])) == 1
        assert st.n_units() == 3
    # WAL journal
    conn = sqlite3.connect(tmp_path / "store.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_duplicates_are_refused_and_the_unit_is_all_or_nothing(tmp_path):
    with RunStore(tmp_path, IDENT) as st:
        st.add_unit(_unit(2, proxies=("a",)))
        # a unit repeating a stored (arch, proxy, seed) fails as a whole: "b" is not stored either
        with pytest.raises(sqlite3.IntegrityError):
            st.add_unit(_unit(2, proxies=("b", "a")))
        assert st.done() == {(2, 0): {"a"}}
        # adding the missing proxy of a stored unit later is allowed
        st.add_unit(_unit(2, proxies=("b",)))
        assert st.done() == {(2, 0): {"a", "b"}}
        assert st.n_units() == 1
        assert st.units()["seconds"].item() == pytest.approx(0.2)


def test_changed_identity_is_refused_with_the_keys_that_differ(tmp_path):
    with RunStore(tmp_path, IDENT) as st:
        st.add_unit(_unit(0))
    changed = {**IDENT, "data": {"dataset": "fashion-mnist-sample", "batch_size": 16}, "device": "cuda"}
    with pytest.raises(ConfigMismatchError) as info:
        RunStore(tmp_path, changed).open()
    msg = str(info.value)
    assert "data.batch_size: 8 (stored) vs 16 (now)" in msg and "device: 'cpu' (stored) vs 'cuda' (now)" in msg
    assert "dataset" not in msg.replace("data.batch_size", "")  # unchanged keys are not listed
    assert isinstance(info.value, ValueError)  # the CLI maps it to exit status 2
    # the refused attempt left the lock free and the store intact
    with RunStore(tmp_path, IDENT) as st:
        assert st.n_units() == 1


def test_diff_identity_nested_and_absent():
    assert diff_identity({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 2}}) == []
    d = diff_identity({"a": 1, "b": {"c": 2}}, {"b": {"c": 3, "d": 4}})
    assert d == ["a: 1 (stored) vs '<absent>' (now)", "b.c: 2 (stored) vs 3 (now)",
                 "b.d: '<absent>' (stored) vs 4 (now)"]


def test_a_second_writer_is_refused(tmp_path):
    with RunStore(tmp_path, IDENT):
        with pytest.raises(StoreBusyError, match="being written by pid"):
            RunStore(tmp_path, IDENT).open()
    with RunStore(tmp_path, IDENT) as st:  # released on close
        assert st.resumed


def test_failed_transaction_rolls_back(tmp_path):
    with RunStore(tmp_path, IDENT) as st:
        with pytest.raises(RuntimeError):
            with st.transaction() as conn:
                conn.execute("INSERT INTO units VALUES (9, 0, 'x', 0, 0, 8, 'w', 0)")
                raise RuntimeError("stop")
        assert st.n_units() == 0
