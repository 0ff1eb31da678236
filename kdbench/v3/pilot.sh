#!/usr/bin/env bash
# KD benchmark v3: the regime pilot. Every candidate trains the 12 pilot cells (kdbench/v3/pilot-cells.txt, spread over
# v2's vanilla accuracy range) x 3 seeds; candidates with their own vanilla protocol train both modes, KD-only
# candidates are paired with the vanilla runs of the candidate that shares their vanilla protocol (same vanilla key).
# Resumable: rerun the same command and every build skips its finished runs. Run it from a separate worktree:
#   kdbench/v3/pilot.sh [CANDIDATE ...]      (default: every candidate, in the order below; two processes each)
set -eu
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
PY=${PY:-python}
pb() { "$PY" -c "import sys; from proxybench.cli import main; sys.exit(main())" "$@"; }
T1=kdbench/teacher/resnet20-fmnist16.pt
TD=kdbench/v2/teachers
ENS="ensemble:checkpoint:$PWD/$T1,checkpoint:$PWD/$TD/resnet20-s1.pt,checkpoint:$PWD/$TD/resnet20-s2.pt"
CELLS=kdbench/v3/pilot-cells.txt
# candidate : modes : teacher
CANDIDATES="low1k-a0.5-T1:vanilla,kd:$T1
low1k-transfer9k-a0.5-T1:kd:$T1
c8n1-low1k-a0.5-T1:vanilla,kd:$T1
noise40-3k-a0.7-T1:vanilla,kd:$T1
low1k-oracle3-a0.5-T1:kd:$ENS
low1k-a0.9-T4:kd:$T1"
run() {  # candidate modes teacher
  mkdir -p kdbench/v3/pilot
  for i in 0 1; do
    pb kd-bench build --protocol kdbench/v3/protocols/$1.json --archs $CELLS --seeds 3 --modes $2 --teacher "$3" \
      --out kdbench/v3/pilot/$1 --threads 1 --shard $i/2 >> kdbench/v3/pilot/$1.log 2>&1 &
  done
  wait
}
want="${*:-}"
while IFS=: read -r name modes teacher; do
  if [ -z "$want" ] || [[ " $want " == *" $name "* ]]; then run "$name" "$modes" "$teacher"; fi
done <<< "$CANDIDATES"
