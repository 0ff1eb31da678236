#!/usr/bin/env bash
# Copy the sweep's finished runs (consistent SQLite snapshots, runs.csv, protocol, plan, logs) from the build
# worktrees into this checkout's kdbench/v2/sweep, so they can be committed while the builds go on.
set -eu
cd "$(dirname "$0")"
mkdir -p sweep
for src in "$@"; do
  for d in "$src"/*/; do
    [ -f "$d/runs.sqlite" ] || continue
    name=$(basename "$d"); mkdir -p "sweep/$name"
    sqlite3 "$d/runs.sqlite" ".backup 'sweep/$name/runs.sqlite'" 2>/dev/null || \
      python3 -c "import sqlite3,sys; s=sqlite3.connect(sys.argv[1]); t=sqlite3.connect(sys.argv[2]); s.backup(t)" \
        "$d/runs.sqlite" "sweep/$name/runs.sqlite"
    cp "$d/protocol.json" "$d/plan.json" "sweep/$name/" 2>/dev/null || true
    [ -f "$d/runs.csv" ] && cp "$d/runs.csv" "sweep/$name/"
    [ -f "$src/$name.log" ] && cp "$src/$name.log" "sweep/$name.log"
  done
done
