"""DisWOT's raw 1:1 sum against a scale-balanced one: the rank-sum ensemble of its two distances
(``--ensemble diswot_semantic+diswot_relation``), Kendall tau against KD and vanilla accuracy on both shipped KD
benchmarks, from the scores of ``perf/validate_kd_proxies.py`` (3 seeds, scores averaged over seeds; v1's cells are
v2's first 150, so one score file serves both).

    python perf/diswot_balanced.py > perf/results/diswot_balanced.txt
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import proxybench
from proxybench.analysis.correlation import correlate
from proxybench.analysis.ensembles import add_ensembles

SCORES = Path(__file__).resolve().parent / "results" / "validate_kd_proxies_v2_scores.csv.gz"
ENSEMBLE = "ens:diswot_semantic+diswot_relation"
PROXIES = ["diswot", "diswot_semantic", "diswot_relation", ENSEMBLE]


def main() -> None:
    scores = add_ensembles(pd.read_csv(SCORES), {ENSEMBLE: ["diswot_semantic", "diswot_relation"]})
    print(f"scores: {SCORES.name}; Kendall tau of the seed-averaged score, bootstrap 95% CI (2000 resamples)")
    for bench in ("nb201-kd-fmnist16", "nb201-kd-fmnist16-v2"):
        gt = proxybench.load_benchmark(bench).ground_truth
        c = correlate(scores, gt, proxies=PROXIES, statistics=["kendall"], topk=(), n_resamples=2000)
        c = c[(c["statistic"] == "kendall") & (c["aggregate"] == "score_mean")]
        print(f"\n{bench} ({int(c['n'].max())} archs)")
        for proxy in PROXIES:
            cells = []
            for metric in ("kd_acc", "vanilla_acc"):
                r = c[(c["proxy"] == proxy) & (c["ground_truth"] == metric)].iloc[0]
                cells.append(f"{metric} {r['value']:.3f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]")
            print(f"  {proxy:38s} " + "   ".join(cells))


if __name__ == "__main__":
    main()
