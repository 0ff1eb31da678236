#!/usr/bin/env bash
# v2 protocol sweep, wave 1: alpha and T at v1's budget and teacher (KD runs only; vanilla comes from v1).
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
for c in a0.5-T1 a0.9-T1 a1.0-T1 a0.5-T2 a0.9-T2; do
  .venv-main/bin/python -c "import sys; from proxybench.cli import main; sys.exit(main())" kd-bench build --protocol kdbench/v2/protocols/$c.json \
    --archs kdbench/v2/sweep-cells.txt --modes kd --teacher kdbench/teacher/resnet20-fmnist16.pt \
    --out kdbench/v2/sweep/$c --threads 1 >> kdbench/v2/sweep/$c.log 2>&1
done
