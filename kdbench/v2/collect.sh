#!/usr/bin/env bash
# Copy the finished runs of the v2 jobs running in another worktree (consistent SQLite snapshots, runs.csv, protocol,
# plan, logs) into this checkout, so they can be committed while the builds go on:
#   kdbench/v2/collect.sh /path/to/worktree
# Collects the sweep candidates (kdbench/v2/sweep/*), the DistPro processes, the vanilla pool and the v2 build.
set -eu
cd "$(dirname "$0")/../.."
src=$(cd "$1" && pwd)
snapshot() {  # build dir in the worktree -> same path here
  local from="$src/$1" to="$1"
  [ -f "$from/runs.sqlite" ] || return 0
  mkdir -p "$to"
  python3 -c "import sqlite3,sys; s=sqlite3.connect(sys.argv[1]); t=sqlite3.connect(sys.argv[2]); s.backup(t)" \
    "$from/runs.sqlite" "$to/runs.sqlite"
  cp "$from/protocol.json" "$from/plan.json" "$to/" 2>/dev/null || true
  [ -f "$from/runs.csv" ] && cp "$from/runs.csv" "$to/"
  [ -f "$from.log" ] && cp "$from.log" "$to.log"
  return 0
}
for d in "$src"/kdbench/v2/sweep/*/; do snapshot "kdbench/v2/sweep/$(basename "$d")"; done
snapshot kdbench/v2/vanilla-pool
snapshot kdbench/build/nb201-kd-fmnist16-v2
cp "$src"/kdbench/v2/sweep/*.log kdbench/v2/sweep/ 2>/dev/null || true
cp "$src"/kdbench/build/v2-*.log kdbench/build/ 2>/dev/null || true
if [ -d "$src/kdbench/v2/processes" ]; then mkdir -p kdbench/v2/processes; cp "$src"/kdbench/v2/processes/*.json kdbench/v2/processes/ 2>/dev/null || true; fi
