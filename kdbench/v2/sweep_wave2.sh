#!/usr/bin/env bash
# v2 protocol sweep, wave 2: ensemble teachers (mean-logit KD, Oracle KD) and consistent teaching with augmentation.
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
T=/work/sweep/kdbench/v2/teachers
while [ ! -s $T/resnet20-s2.pt ] || pgrep -f "seed 2 --out" >/dev/null; do sleep 30; done
ENS="ensemble:checkpoint:$PWD/kdbench/teacher/resnet20-fmnist16.pt,checkpoint:$T/resnet20-s1.pt,checkpoint:$T/resnet20-s2.pt"
PB=(.venv-main/bin/python -c "import sys; from proxybench.cli import main; sys.exit(main())")
for c in ens3-oracle-a0.5-T1 ens3-kd-a0.5-T1; do
  "${PB[@]}" kd-bench build --protocol kdbench/v2/protocols/$c.json --archs kdbench/v2/sweep-cells.txt --modes kd \
    --teacher "$ENS" --out kdbench/v2/sweep/$c --threads 1 >> kdbench/v2/sweep/$c.log 2>&1
done
c=aug-a0.5-T1
"${PB[@]}" kd-bench build --protocol kdbench/v2/protocols/$c.json --archs kdbench/v2/sweep-cells.txt \
  --teacher kdbench/teacher/resnet20-fmnist16.pt --out kdbench/v2/sweep/$c --threads 1 >> kdbench/v2/sweep/$c.log 2>&1
