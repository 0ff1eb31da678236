"""Two KD benchmark versions side by side, from ``perf/validate_kd_proxies.py --out PREFIX`` results (not a test).

    python perf/compare_kd_versions.py v1=PREFIX1 v2=PREFIX2 [--out FILE]

Reads ``PREFIX_correlations.csv`` and ``PREFIX_kd_minus_vanilla.csv`` of each version and prints, per proxy, Kendall
tau [95% CI] against KD accuracy, vanilla accuracy and the KD gain, and the paired KD-minus-vanilla tau difference,
one column per version, so a reader sees what the recipe changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


def load(prefix: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    corr = pd.read_csv(f"{prefix}_correlations.csv")
    corr = corr[(corr["aggregate"] == "score_mean") & (corr["statistic"] == "kendall")]
    diff_path = Path(f"{prefix}_kd_minus_vanilla.csv")
    diff = pd.read_csv(diff_path) if diff_path.exists() else pd.DataFrame(columns=["proxy_a"])
    return corr, diff


def fmt(value, low, high, signed=False) -> str:
    if pd.isna(value):
        return "–"
    s = "+" if signed else ""
    return f"{value:{s}.3f} [{low:{s}.2f}, {high:{s}.2f}]"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("versions", nargs="+", help="NAME=PREFIX, one per version, in column order")
    ap.add_argument("--out", default=None, help="also write the table here (text)")
    args = ap.parse_args(argv)
    runs = {}
    for item in args.versions:
        name, sep, prefix = item.partition("=")
        if not sep or not name or not prefix:
            ap.error(f"expected NAME=PREFIX, got {item!r}")
        if not Path(f"{prefix}_correlations.csv").exists():
            ap.error(f"{prefix}_correlations.csv does not exist (run perf/validate_kd_proxies.py --out {prefix})")
        runs[name] = load(prefix)
    first = next(iter(runs.values()))[0]
    order = (first[first["ground_truth"] == "kd_acc"].sort_values("value", ascending=False)["proxy"].tolist())
    rows = []
    for proxy in order:
        row = {"proxy": proxy}
        for gt in ("kd_acc", "vanilla_acc", "kd_gain"):
            for name, (corr, _) in runs.items():
                r = corr[(corr["proxy"] == proxy) & (corr["ground_truth"] == gt)]
                row[f"{gt} {name}"] = fmt(*r[["value", "ci_low", "ci_high"]].iloc[0]) if len(r) else "–"
        for name, (_, diff) in runs.items():
            d = diff[diff["proxy_a"] == proxy]
            row[f"dtau kd-van {name}"] = (fmt(*d[["difference", "ci_low", "ci_high"]].iloc[0], signed=True)
                                          if len(d) else "–")
        rows.append(row)
    pd.set_option("display.width", 400)
    text = ("Kendall tau [95% CI] per proxy and KD benchmark version (sorted by tau on kd_acc of "
            f"{next(iter(runs))})\n" + pd.DataFrame(rows).to_string(index=False))
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
