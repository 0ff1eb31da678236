"""Export the build to the table bundled with proxybench (the default benchmark of ``proxybench eval``).

    python kdbench/export_bundled.py

Writes ``proxybench/benchmarks/data/nb201-kd-fmnist16.pbgt`` from ``kdbench/build/nb201-kd-fmnist16`` and copies
the teacher checkpoint next to it, with metadata: the protocol and summary figures (from
``proxybench.distill.kdbench.export_ground_truth``), the teacher's training record, the protocol sweep (every
candidate's runs from ``kdbench/sweep``) and whether the build is complete.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

from proxybench.distill.kdbench import RunStore, export_ground_truth, sweep_table

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build" / "nb201-kd-fmnist16"
TEACHER = HERE / "teacher" / "resnet20-fmnist16"
OUT_DIR = HERE.parent / "proxybench" / "benchmarks" / "data"
NAME = "nb201-kd-fmnist16"
CHOICE = ("10k class-balanced images x 6 epochs, lr 0.05: the most accurate students with the smallest KD loss "
          "vs vanilla among the candidates; no candidate with alpha 0.9, T 4 and a ~60k-image budget made KD beat "
          "vanilla on average on the swept cells (see kdbench/README.md)")


def main() -> int:
    plan = json.loads((BUILD / "plan.json").read_text())
    store = RunStore(BUILD / "runs.sqlite")
    try:
        finished = len(store.done())
    finally:
        store.close()
    complete = finished >= len(plan)
    teacher = json.loads(TEACHER.with_suffix(".json").read_text())
    teacher["checkpoint"] = f"{NAME}.teacher.pt"  # shipped next to the table
    sweep = sweep_table(sorted(p for p in (HERE / "sweep").iterdir() if (p / "runs.sqlite").exists()))
    sweep_runs = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
                  for row in sweep.to_dict(orient="records")]
    description = ("NB201 students (C=16, N=5) on Fashion-MNIST 16x16x3: vanilla and KD (0.1 CE + 0.9 KL, T=4) "
                   f"accuracy with a trained ResNet-20 teacher ({teacher['test_acc']:.2f}%); built by proxybench "
                   "kd-bench" + ("" if complete else f"; PARTIAL: {finished} of {len(plan)} planned runs"))
    meta = export_ground_truth(
        BUILD, OUT_DIR / f"{NAME}.pbgt", name=NAME, dataset_label="fashion-mnist-16", description=description,
        extra_metadata={"teacher": teacher, "sweep": {"choice": CHOICE, "runs": sweep_runs},
                        "build": {"complete": complete, "finished_runs": finished, "planned_runs": len(plan)}})
    shutil.copyfile(TEACHER.with_suffix(".pt"), OUT_DIR / f"{NAME}.teacher.pt")
    print(json.dumps(meta["summary"], indent=1))
    print(f"wrote {OUT_DIR / (NAME + '.pbgt')}: {finished} of {len(plan)} runs"
          + ("" if complete else " (partial)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
