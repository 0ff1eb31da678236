"""Zero-cost proxy scores as features: a trained predictor against each proxy alone, on real NB201 scores.

Reads the proxy scores of ``perf/results/validate_vkdnw_cifar10_200.csv`` (NB201 cells scored with a real
CIFAR-10 batch by ``perf/validate_vkdnw.py``; ``jacov`` is left out, it covers only part of the cells), joins them
with NB201's ``cifar10-valid`` validation accuracy (the bundled ``nb201-cifar10``), and prints
:func:`proxybench.analysis.predictor.predict_accuracy` for both models: Kendall tau / Spearman rho of the 5-fold
out-of-fold predictions next to each proxy alone on the same cells. Needs scikit-learn.

    python perf/predictor_nb201.py [--folds 5] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from proxybench.analysis.predictor import predict_accuracy
from proxybench.benchmarks import nb201
from proxybench.benchmarks.groundtruth import load_benchmark

SCORES = Path(__file__).resolve().parent / "results" / "validate_vkdnw_cifar10_200.csv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    sc = pd.read_csv(SCORES)
    sc = sc[sc["proxy"] != "jacov"].copy()
    sc["arch"] = [nb201.index_to_arch(int(i)) for i in sc["arch_index"]]
    sc["seed"] = 0
    gt = load_benchmark("nb201-cifar10").ground_truth
    gt = gt[gt["arch_index"].isin(set(sc["arch_index"])) & (gt["metric"] == "val_acc")]
    print(f"{sc['arch_index'].nunique()} NB201 cells x {sc['proxy'].nunique()} proxies ({SCORES.name}); ground "
          f"truth cifar10-valid/val_acc; {args.folds}-fold CV, seed {args.seed}")
    for model in ("gbr", "rf"):
        table = predict_accuracy(sc, gt, model=model, folds=args.folds, seed=args.seed)
        wide = table.pivot_table(index="method", columns="statistic", values="value").sort_values(
            "kendall", ascending=False)
        row = table.iloc[0]
        print(f"\n{model}: n {row.n}, dropped (a non-finite score) {row.n_dropped}")
        print(wide.round(3).to_string())


if __name__ == "__main__":
    main()
