"""The v3 regime pilot as a table: per candidate, the KD gain with its CI and, above all, its reliability.

    python kdbench/v3/pilot_report.py [PILOT_DIR]        (default kdbench/v3/pilot; writes nothing, prints)

Each candidate is one build directory (its own protocol) with the 12 pilot cells x 3 seeds. KD-only candidates are
paired with the vanilla runs of a candidate with the same vanilla protocol (``Protocol.vanilla_key``). The figures
are :func:`proxybench.distill.summary.regime_summary`'s: mean gain over cells with a bootstrap CI, the gain's ICC(1)
with CI (the choice rests on its lower end), its seed-to-seed tau, the ceiling on any proxy's tau, the ICC of both
accuracies and the noise-corrected KD-vs-vanilla correlation. CPU seconds per run come from the run stores.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from proxybench.distill.summary import _read_runs, compute_hours, regime_summary, sweep_table

HERE = Path(__file__).resolve().parent


def candidates(pilot: Path) -> list[Path]:
    return sorted((p for p in pilot.iterdir() if (p / "runs.sqlite").exists()), key=lambda p: p.stat().st_ctime)


def main(argv: list[str]) -> int:
    pilot = Path(argv[0]) if argv else HERE / "pilot"
    dirs = candidates(pilot)
    table = sweep_table(dirs, vanilla_from=dirs)
    rows = regime_summary(table)
    for entry, d in zip(rows, dirs):
        runs = _read_runs(d)
        done = runs.dropna(subset=["test_acc"])
        cpu = compute_hours(done).get("cpu_hours", 0.0) * 3600
        entry["cpu_s_per_run"] = round(cpu / max(1, len(done)), 1)
        entry["own_runs"] = int(len(done))
        p = json.loads((d / "protocol.json").read_text())
        entry["recipe"] = (f"n={p['train_subset']} x {p['epochs']:g} ep, C{p['C']} N{p['N']}, "
                           f"{p.get('distiller', 'kd')} a{p['alpha']:g} T{p['temperature']:g}"
                           + (f", transfer {p['transfer_set']}" if p.get("transfer_set") else "")
                           + (f", noise {p['label_noise']:g}" if p.get("label_noise") else ""))
    pd.set_option("display.width", 250, "display.max_columns", 30, "display.max_colwidth", 60)

    def ci(v):
        return "" if not v or v[0] is None else f"[{v[0]:+.2f}, {v[1]:+.2f}]"

    show = pd.DataFrame([{
        "candidate": e["candidate"], "recipe": e.get("recipe", ""), "cells": e["cells"], "runs": e["runs"],
        "gain": e.get("kd_gain_mean"), "gain CI": ci(e.get("kd_gain_ci")),
        "KD better": e.get("kd_better_fraction"),
        "ICC(gain)": e.get("icc_kd_gain"), "ICC CI": ci(e.get("icc_kd_gain_ci")),
        "seed tau(gain)": e.get("noise_tau_kd_gain"), "tau ceiling": e.get("tau_ceiling_kd_gain"),
        "corrected r(KD,van)": e.get("kd_vs_vanilla_corrected_r"),
        "ICC(kd)": e.get("icc_kd_acc"), "ICC(van)": e.get("icc_vanilla_acc"),
        "vanilla range": e.get("vanilla_acc_range"), "CPU s/run": e.get("cpu_s_per_run")} for e in rows])
    print("v3 regime pilot: 12 cells x 3 seeds per candidate; gain = KD - vanilla accuracy (points) of the same "
          "cell and seed")
    print(show.to_string(index=False))
    print()
    gain = table.pivot_table(index="arch_index", columns="candidate", values="kd_gain")
    print("Mean KD gain per cell (over seeds)")
    print(gain.round(2).to_string())
    print()
    print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
