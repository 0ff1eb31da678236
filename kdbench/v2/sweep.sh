#!/usr/bin/env bash
# KD benchmark v2: the protocol sweep, its teachers and the vanilla pool. Resumable: every step skips what is done,
# so the same command continues an interrupted sweep. Run it from a separate worktree (not the checkout you edit):
#   kdbench/v2/sweep.sh teachers | wave1 | wave2 | wave3 | wave4 | wave5 | pool | build [I/N] | finish
# Each candidate is one build directory under kdbench/v2/sweep (6 cells: kdbench/v2/sweep-cells.txt, seed 0).
# KD-only candidates train KD runs only; their vanilla runs are v1's (same vanilla protocol, same seeds).
set -eu
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
PY=${PY:-python}
pb() { "$PY" -c "import sys; from proxybench.cli import main; sys.exit(main())" "$@"; }
V1=kdbench/protocols/fmnist16.json
T1=kdbench/teacher/resnet20-fmnist16.pt
TD=kdbench/v2/teachers
ENS="ensemble:checkpoint:$PWD/$T1,checkpoint:$PWD/$TD/resnet20-s1.pt,checkpoint:$PWD/$TD/resnet20-s2.pt"
CELLS=kdbench/v2/sweep-cells.txt
kd_only() {  # candidate teacher
  pb kd-bench build --protocol kdbench/v2/protocols/$1.json --archs $CELLS --modes kd --teacher "$2" \
    --out kdbench/v2/sweep/$1 --threads 1 >> kdbench/v2/sweep/$1.log 2>&1
}
case "${1:-}" in
  teachers)  # two more ResNet-20 seeds, v1's teacher recipe (15 epochs of the full set): an ensemble of 3 with v1's
    for s in 1 2; do
      [ -s $TD/resnet20-s$s.pt ] || pb kd-bench teacher --protocol $V1 --spec resnet20 --epochs 15 --lr 0.1 --seed $s \
        --out $TD/resnet20-s$s.pt --threads 1
    done ;;
  wave1)  # alpha and T with v1's teacher and budget
    for c in a0.5-T1 a0.9-T1; do kd_only $c $T1; done ;;
  wave2)  # the ensemble of 3: mean-logit KD and Oracle KD in parallel
    kd_only ens3-oracle-a0.5-T1 "$ENS" & kd_only ens3-kd-a0.5-T1 "$ENS" & wait ;;
  wave3)  # DistPro: a process learned once on cell 13673 (a v1 cell outside the sweep cells), reused on the 6 cells
    mkdir -p kdbench/v2/processes
    [ -s kdbench/v2/processes/distpro-13673.json ] || pb kd-bench process-search --protocol $V1 --arch 13673 \
      --teacher "checkpoint:$PWD/$T1" --out kdbench/v2/processes/distpro-13673.json --threads 1 \
      >> kdbench/v2/sweep/distpro-search.log 2>&1
    kd_only distpro $T1 ;;
  wave4)  # the rest of the alpha x T grid next to the chosen recipe: alpha 0.3 at T 1, and T 2 at alpha 0.5
    for c in a0.3-T1 a0.5-T2; do kd_only $c $T1; done ;;
  wave5)  # consistent teaching: crop+flip in both modes, the teacher scoring the student's augmented view (own vanilla)
    for i in 0 1; do
      pb kd-bench build --protocol kdbench/v2/protocols/aug-a0.5-T1.json --archs $CELLS --teacher $T1 \
        --out kdbench/v2/sweep/aug-a0.5-T1 --threads 1 --shard $i/2 >> kdbench/v2/sweep/aug-a0.5-T1.log 2>&1 &
    done; wait ;;
  pool)  # every vanilla run v2 needs (200 cells, 20 x 3 noise), v1's vanilla protocol; v1's runs are copied in
    pb kd-bench build --protocol $V1 --archs 200 --arch-seed 0 --noise-archs 20 --noise-seeds 3 --modes vanilla \
      --reuse-vanilla kdbench/build/nb201-kd-fmnist16 --out kdbench/v2/vanilla-pool --threads 1 \
      >> kdbench/v2/vanilla-pool.log 2>&1 ;;
  build)  # the v2 table with the chosen protocol; KD runs only (shard I/N in $2): vanilla runs come from the pool
    mkdir -p kdbench/build
    pb kd-bench build --protocol kdbench/protocols/fmnist16-v2.json --archs 200 --arch-seed 0 --noise-archs 20 \
      --noise-seeds 3 --modes kd --teacher $T1 --out kdbench/build/nb201-kd-fmnist16-v2 --threads 1 \
      --shard "${2:-0/1}" >> kdbench/build/v2-shard${2%%/*}.log 2>&1 ;;
  finish)  # after the pool: copy its vanilla runs into the v2 build (training any still missing)
    pb kd-bench build --protocol kdbench/protocols/fmnist16-v2.json --archs 200 --arch-seed 0 --noise-archs 20 \
      --noise-seeds 3 --teacher $T1 --reuse-vanilla kdbench/v2/vanilla-pool --out kdbench/build/nb201-kd-fmnist16-v2 \
      --threads 1 >> kdbench/build/v2-finish.log 2>&1 ;;
  *) echo "usage: $0 teachers|wave1|wave2|wave3|wave4|wave5|pool|build [I/N]|finish" >&2; exit 2 ;;
esac
