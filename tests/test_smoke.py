"""A smoke test of the product as shipped: the bundled default benchmark, its trained teacher checkpoint, and
``proxybench eval --archs 5 --proxies default`` on them (a small batch, one worker process, a temporary run
directory)."""

from __future__ import annotations

import json

import pandas as pd
import torch

import proxybench
from proxybench import schema
from proxybench.benchmarks import groundtruth as gtm
from proxybench.benchmarks.datasets import load_images, to_tensor
from proxybench.cli import main
from proxybench.engine.config import (
    DEFAULT_BENCHMARK,
    DEFAULT_PROXIES,
    resolve_teacher,
    teacher_spec_from_metadata,
)


def test_bundled_default_benchmark_and_teacher_checkpoint_load():
    assert DEFAULT_BENCHMARK in proxybench.list_benchmarks()
    gt = proxybench.load_benchmark(DEFAULT_BENCHMARK)
    assert gt.path.parent == gtm.BUNDLED_DIR
    build = gt.metadata["build"]
    assert build["complete"] and gt.n_archs() == 200 and build["planned_runs"] == 480
    assert len(gt) == 480 + 240  # the runs, and the KD gain of every (cell, seed) with both modes
    assert [m for _, m in gt.pairs()] == ["kd_acc", "kd_gain", "vanilla_acc"]
    assert list(gt.ground_truth.columns) == list(schema.GROUND_TRUTH.names)
    spec = teacher_spec_from_metadata(gt.metadata, gt.path)
    assert spec is not None and spec.startswith("checkpoint:") and spec.endswith(".teacher.pt")
    data = gt.metadata["data"]
    teacher, _, ident, info = resolve_teacher(spec, data["num_classes"], data["channels"], 0)
    assert info["trained"] and ident["checkpoint"] == gt.metadata["teacher"]["checkpoint"]
    images = load_images("fashion-mnist-sample")
    x = to_tensor(images, resolution=data["resolution"], channels=data["channels"])[:200]
    with torch.no_grad():
        accuracy = (teacher(x).argmax(1).numpy() == images.labels[:200]).mean()
    assert accuracy > 0.7  # a trained teacher (92% on the full test set), not a random one


def test_cli_eval_default_proxies_on_the_default_benchmark(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["eval", "--archs", "5", "--proxies", "default", "--batch-size", "16", "--workers", "1", "--threads", "1",
            "--ci-resamples", "50", "--out", str(run_dir), "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{DEFAULT_BENCHMARK}: 5 archs x 1 seed(s) x {len(DEFAULT_PROXIES)} proxies")
    assert "teacher" in out.splitlines()[0] and "ground truth: kd_acc" in out
    for proxy in DEFAULT_PROXIES:
        assert f"\n{proxy:>15} " in out or f"\n{proxy} " in out or f" {proxy} " in out
    scores = pd.read_csv(run_dir / "scores.csv")
    assert list(scores.columns) == list(schema.SCORES.names)
    assert scores["arch_index"].nunique() == 5 and set(scores["proxy"]) == set(DEFAULT_PROXIES)
    assert (scores["status"] == "ok").mean() > 0.9, scores[scores["status"] != "ok"]
    corr = pd.read_csv(run_dir / "correlations.csv")
    assert list(corr.columns) == list(schema.CORRELATIONS.names)
    assert set(corr["ground_truth"]) == {"kd_acc", "vanilla_acc", "kd_gain"}
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["teacher"]["trained"] and meta["config"]["execution"]["workers"] == 1
    assert (run_dir / "report.html").is_file() and (run_dir / "kd_vs_vanilla.csv").is_file()
