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

from proxybench.distill.kdbench import RunStore
from proxybench.distill.protocol import Protocol

HERE = Path(__file__).resolve().parent
V1 = HERE.parent / "build" / "nb201-kd-fmnist16"
VANILLA_FIELDS = ("dataset", "resolution", "channels", "train_subset", "epochs", "batch_size", "lr", "momentum",
                  "nesterov", "weight_decay", "schedule", "augmentation", "C", "N", "init", "data_seed")


def runs_of(build: Path) -> pd.DataFrame:
    store = RunStore(build / "runs.sqlite")
    try:
        return store.frame()
    finally:
        store.close()


def table(dirs: list[Path]) -> pd.DataFrame:
    v1 = Protocol.from_file(V1 / "protocol.json")
    v1_runs = runs_of(V1)
    v1_van = v1_runs[v1_runs["mode"] == "vanilla"].set_index(["arch_index", "seed"])["test_acc"]
    v1_kd = v1_runs[v1_runs["mode"] == "kd"].set_index(["arch_index", "seed"])["test_acc"]
    rows = []
    for d in dirs:
        p = Protocol.from_file(d / "protocol.json")
        runs = runs_of(d)
        same_vanilla = all(getattr(p, f) == getattr(v1, f) for f in VANILLA_FIELDS)
        own_van = runs[runs["mode"] == "vanilla"].set_index(["arch_index", "seed"])["test_acc"]
        for _, r in runs[runs["mode"] == "kd"].iterrows():
            key = (int(r["arch_index"]), int(r["seed"]))
            van = v1_van.get(key) if same_vanilla else own_van.get(key)
            rows.append({"candidate": d.name, "alpha": p.alpha, "T": p.temperature, "distiller": p.distiller,
                         "augmentation": p.augmentation, "teacher": p.notes, "arch_index": key[0], "seed": key[1],
                         "vanilla_acc": van, "kd_acc": float(r["test_acc"]), "v1_kd_acc": v1_kd.get(key),
                         "vanilla_from": "v1" if same_vanilla else "own"})
    df = pd.DataFrame(rows)
    # v1's own recipe (alpha 0.9, T 4) on the same cells and seeds, as a reference row
    v1_rows = df[["arch_index", "seed"]].drop_duplicates()
    v1_rows = v1_rows.assign(candidate="v1 (a0.9-T4)", alpha=v1.alpha, T=v1.temperature, distiller=v1.distiller,
                             augmentation=v1.augmentation, teacher=v1.notes,
                             vanilla_acc=[v1_van.get((a, s)) for a, s in zip(v1_rows.arch_index, v1_rows.seed)],
                             kd_acc=[v1_kd.get((a, s)) for a, s in zip(v1_rows.arch_index, v1_rows.seed)],
                             vanilla_from="v1")
    v1_rows["v1_kd_acc"] = v1_rows["kd_acc"]
    df = pd.concat([df, v1_rows.dropna(subset=["kd_acc"])], ignore_index=True)
    df["kd_gain"] = df["kd_acc"] - df["vanilla_acc"]
    return df


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
    summary = df.groupby("candidate").agg(cells=("kd_gain", "count"), mean_gain=("kd_gain", "mean"),
                                          worst=("kd_gain", "min"), better=("kd_gain", lambda g: (g > 0).mean()),
                                          mean_kd=("kd_acc", "mean"), mean_vanilla=("vanilla_acc", "mean"))
    print()
    print(summary.round(3).sort_values("mean_gain", ascending=False).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
