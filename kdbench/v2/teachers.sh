#!/usr/bin/env bash
# v2 teachers: two more ResNet-20 seeds (ensemble of 3 with the shipped one), and a longer-trained ResNet-20.
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
P=kdbench/protocols/fmnist16.json
for s in 1 2; do
  [ -f kdbench/v2/teachers/resnet20-s$s.pt ] || .venv-main/bin/python -c "import sys; from proxybench.cli import main; sys.exit(main())" kd-bench teacher --protocol $P \
    --spec resnet20 --epochs 15 --lr 0.1 --seed $s --out kdbench/v2/teachers/resnet20-s$s.pt --threads 1
done
[ -f kdbench/v2/teachers/resnet20-e40.pt ] || .venv-main/bin/python -c "import sys; from proxybench.cli import main; sys.exit(main())" kd-bench teacher --protocol $P \
  --spec resnet20 --epochs 40 --lr 0.1 --seed 0 --out kdbench/v2/teachers/resnet20-e40.pt --threads 1
