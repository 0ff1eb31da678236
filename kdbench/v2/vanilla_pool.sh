#!/usr/bin/env bash
# The vanilla runs of KD benchmark v2: v1's protocol (its vanilla part is v2's), on v2's cells (200, arch seed 0,
# the first 150 are v1's) and noise subset (the first 20 cells x 3 seeds). v1's finished vanilla runs are copied in
# first; the rest are trained. v2's build then reuses all of them.
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
while pgrep -f "protocols/a0.5-T1.json" >/dev/null; do sleep 20; done
OUT=kdbench/v2/vanilla-pool
.venv-main/bin/python - <<'PY'
from pathlib import Path
from proxybench.distill import kdbench
from proxybench.distill.protocol import Protocol
from proxybench.distill.reuse import reuse_vanilla
from proxybench.nb201 import sample_indices
out = Path("kdbench/v2/vanilla-pool"); out.mkdir(parents=True, exist_ok=True)
p = Protocol.from_file("kdbench/protocols/fmnist16.json")
kdbench._check_protocol(out, p)
plan = kdbench.make_plan(sample_indices(200, seed=0, unique=True, exclude_zero=True), noise_archs=20, noise_seeds=3,
                         modes=["vanilla"])
store = kdbench.RunStore(out / "runs.sqlite")
try:
    print("reused", reuse_vanilla("kdbench/build/nb201-kd-fmnist16", store, p, plan), "vanilla runs from v1")
finally:
    store.close()
PY
.venv-main/bin/python -c "import sys; from proxybench.cli import main; sys.exit(main())" kd-bench build \
  --protocol kdbench/protocols/fmnist16.json --archs 200 --arch-seed 0 --noise-archs 20 --noise-seeds 3 \
  --modes vanilla --out $OUT --threads 1 >> $OUT.log 2>&1
