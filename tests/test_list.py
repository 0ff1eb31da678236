"""``proxybench list proxies|benchmarks|teachers|datasets|groups``."""

from __future__ import annotations

import pandas as pd
import pytest

from proxybench.benchmarks import groundtruth as gtm
from proxybench.cli import main
from proxybench.engine.config import DEFAULT_PROXIES, STANDARD_PROXIES
from proxybench.proxies import all_specs


def test_list_proxies_one_line_each_with_direction_needs_and_paper(capsys):
    assert main(["list", "proxies"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:4] == ["proxy", "dir", "needs", "paper"]
    specs = all_specs()
    assert len(lines) == 1 + len(specs)
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == set(specs)
    for name, spec in specs.items():
        fields = rows[name].split()
        assert fields[1] == f"{spec.direction:+d}"
        assert spec.summary.split()[0] in rows[name]
    if "snip" in specs:
        assert "data+labels+gradients" in rows["snip"] and "Lee et al." in rows["snip"]
    if "params" in specs:
        assert "no data" in rows["params"]


def test_list_proxies_kd_only(capsys):
    assert main(["list", "proxies", "--kd"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.strip().splitlines()[1:]]
    assert names == [n for n, s in all_specs().items() if s.teacher]


def test_list_teachers_and_datasets_and_groups(capsys):
    assert main(["list", "teachers"]) == 0
    out = capsys.readouterr().out
    assert "nb201:<arch>" in out and "checkpoint:<path>" in out and "ensemble:" in out and "resnet20" in out
    assert main(["list", "datasets"]) == 0
    out = capsys.readouterr().out
    for name in ("cifar10", "cifar100", "imagenet16-120", "fashion-mnist", "fashion-mnist-sample", "synthetic"):
        assert f"\n{name} " in out
    assert "bundled" in out and "Gaussian noise" in out
    assert main(["list", "groups"]) == 0
    out = capsys.readouterr().out
    assert ", ".join(STANDARD_PROXIES) in out and ", ".join(DEFAULT_PROXIES) in out


def test_list_benchmarks_registered_and_empty(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gtm, "BUNDLED_DIR", tmp_path / "bundled")
    monkeypatch.setenv("PROXYBENCH_HOME", str(tmp_path / "home"))
    assert main(["list", "benchmarks"]) == 0
    assert "no benchmark is registered" in capsys.readouterr().out
    df = pd.DataFrame({"arch_index": [0, 1, 2], "dataset": "fashion-mnist", "metric": "kd_acc",
                       "value": [70.0, 80.0, 75.0]})
    gtm.register_benchmark(gtm.GroundTruth(df, {"name": "mini", "description": "three archs\nsecond line"}), "mini")
    assert main(["list", "benchmarks"]) == 0
    out = capsys.readouterr().out
    assert "mini" in out and "three archs" in out and "second line" not in out


def test_list_bad_what_exits_2(capsys):
    assert main(["list", "bananas"]) == 2
    assert "invalid choice: 'bananas'" in capsys.readouterr().err


@pytest.mark.parametrize("what", ["proxies", "benchmarks", "teachers", "datasets", "groups"])
def test_list_each_kind_prints_something(what, capsys):
    assert main(["list", what]) == 0
    assert capsys.readouterr().out.strip()
