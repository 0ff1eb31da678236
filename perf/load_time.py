"""Time ``load_benchmark`` for each bundled benchmark in fresh interpreters (not a test).

    python perf/load_time.py [--repeat 5] [--out perf/results/load_time.txt]

Each measurement is a new Python process that imports pandas first (its import is not counted), then times
``import proxybench`` and ``proxybench.load_benchmark(name)``; also records whether torch was imported (it must not
be). Prints the median and range over the repeats; the target is < 0.3 s per load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys, time
import pandas
t0 = time.perf_counter()
import proxybench
t1 = time.perf_counter()
b = proxybench.load_benchmark(sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "rows": len(b.ground_truth), "torch": "torch" in sys.modules}))
"""


def measure(name: str, repeat: int) -> list[dict]:
    out = []
    for _ in range(repeat):
        res = subprocess.run([sys.executable, "-c", CHILD, name], capture_output=True, text=True, check=True)
        out.append(json.loads(res.stdout.strip().splitlines()[-1]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=None, help="also write the report here")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error(f"--repeat must be >= 1, got {args.repeat}")
    import proxybench

    lines = [f"load_benchmark in fresh interpreters after `import pandas`; {args.repeat} repeats; "
             f"{platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
             f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}",
             f"{'benchmark':<22}{'rows':>8}{'import s':>10}{'load s (median)':>17}{'load s range':>16}{'total s':>9}"
             f"{'torch':>7}"]
    worst = 0.0
    for name in proxybench.list_benchmarks():
        runs = measure(name, args.repeat)
        load = [r["load"] for r in runs]
        imp = statistics.median(r["import"] for r in runs)
        med = statistics.median(load)
        worst = max(worst, imp + med)
        lines.append(f"{name:<22}{runs[0]['rows']:>8}{imp:>10.3f}{med:>17.3f}{min(load):>8.3f}-{max(load):.3f}"
                     f"{imp + med:>9.3f}{str(any(r['torch'] for r in runs)):>7}")
    lines.append(f"slowest median import + load: {worst:.3f} s (target < 0.3 s)")
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
