"""The v2 protocol sweep as a table: KD gain per candidate and cell.

    python kdbench/v2/sweep_report.py [SWEEP_DIR ...]

Each candidate is one build directory under ``kdbench/v2/sweep`` (its own protocol). Candidates that change only
the KD side of v1's protocol (alpha, T, teacher, distiller) train KD runs only; their vanilla accuracy is v1's
(``kdbench/build/nb201-kd-fmnist16``, same vanilla protocol, same seed). Candidates whose vanilla protocol differs
(e.g. augmentation) train both modes and are compared with their own vanilla runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from proxybench.distill.kdbench import sweep_summary, sweep_table

HERE = Path(__file__).resolve().parent
V1 = HERE.parent / "build" / "nb201-kd-fmnist16"


def table(dirs: list[Path]) -> pd.DataFrame:
    """The candidates' rows (:func:`sweep_table`, KD-only candidates paired with v1's vanilla runs), then v1's own
    recipe (alpha 0.9, T 4) on the same cells and seeds as a reference candidate."""
    df = sweep_table(dirs, vanilla_from=[V1])
    ref = sweep_table([V1])
    keys = set(zip(df["arch_index"], df["seed"]))
    ref = ref[[k in keys for k in zip(ref["arch_index"], ref["seed"])]].assign(candidate="v1 (a0.9-T4)")
    return pd.concat([df, ref.dropna(subset=["kd_acc"])], ignore_index=True)


def main(argv: list[str]) -> int:
    dirs = [Path(a) for a in argv] or sorted(p for p in (HERE / "sweep").iterdir() if (p / "runs.sqlite").exists())
    df = table(dirs)
    pd.set_option("display.width", 200)
    wide = df.pivot_table(index="arch_index", columns="candidate", values="kd_gain")
    print("KD gain (points) per cell and candidate (vanilla: v1's runs, or the candidate's own when its vanilla "
          "protocol differs)")
    print(wide.round(2).to_string())
    acc = df.pivot_table(index="arch_index", columns="candidate", values="kd_acc")
    acc.insert(0, "vanilla (v1)", df.groupby("arch_index")["vanilla_acc"].first())
    print()
    print("Test accuracy (%) per cell: vanilla, and KD under each candidate")
    print(acc.round(2).to_string())
    summary = pd.DataFrame(sweep_summary(df)).set_index("candidate")
    means = df.groupby("candidate")[["kd_acc", "vanilla_acc"]].mean().add_prefix("mean_")
    print()
    print(summary[["alpha", "temperature", "distiller", "augmentation", "cells", "mean_gain", "worst_gain",
                   "kd_better_fraction"]].join(means).round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
