#!/usr/bin/env bash
# What the serving state costs as files land, at a given lake size, in one run.
#
# Usage: benches/serving.sh [ROWS]            (default: 10000000)
#
# Generates (seeded, with the bundled generator) a base file of ROWS lines and three files
# that change the statuses of existing lines (the first 1M, 100k and 1k lines of the base
# file with `created` orders moved on: `--statuses advanced`),
# then, with GNU time on the release `pipeline --no-reports` (ingest + serving update, what
# the ETL does per file):
#   1. builds a fresh lake from the base file (the first generation);
#   2. ingests the 1k, 100k and 1M files one by one into it (each one a new generation);
#   3. rebuilds the serving state from the lake (`--rebuild-serving`: the repair command);
#   4. prints the reports from the serving state and refreshes the analytics models
#      (`--models`, bounded memory) over the result.
# Prints, per step, the wall time and peak RSS of the whole process and the serving update's
# own time (the line the pipeline prints on stderr). Files go to $SERVING_DIR (/tmp/duff-serving).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-10000000}
WORK=${SERVING_DIR:-/tmp/duff-serving}
mkdir -p "$WORK"
cargo build --release -p duff-cli --example pipeline --example generate
BIN=${CARGO_TARGET_DIR:-target}/release/examples

gen() { # NAME ROWS [ARGS...]
  local name=$1 rows=$2
  shift 2
  [[ -f "$WORK/$name.csv" ]] || "$BIN/generate" --rows "$rows" --out "$WORK/$name.csv" "$@" >/dev/null
}
gen base "$ROWS"
gen u1m 1000000 --statuses advanced
gen u100k 100000 --statuses advanced
gen u1k 1000 --statuses advanced

LAKE=$WORK/lake
rm -rf "$LAKE"
step() { # LABEL ARGS...
  local label=$1
  shift
  /usr/bin/time -f "%e %M" -o "$WORK/time.txt" "$BIN/pipeline" --lake "$LAKE" "$@" \
    >/dev/null 2>"$WORK/stderr.txt"
  local serving
  serving=$(grep -o 'serving state: .*' "$WORK/stderr.txt" | head -1 || true)
  read -r wall kib <"$WORK/time.txt"
  printf '%-34s %8.2f s %8d MiB   %s\n' "$label" "$wall" $((kib / 1024)) "$serving"
}
echo "commit $(git rev-parse --short HEAD), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-34s %10s %12s   %s\n' "step" "wall" "peak RSS" "serving update"
step "base ($ROWS lines)" --no-reports "$WORK/base.csv"
step "+ 1k lines changing statuses" --no-reports "$WORK/u1k.csv"
step "+ 100k lines changing statuses" --no-reports "$WORK/u100k.csv"
step "+ 1M lines changing statuses" --no-reports "$WORK/u1m.csv"
step "rebuild of the serving state" --no-reports --rebuild-serving
step "reports + models (u1k again: a duplicate)" --max-rows 1 --models "$WORK/u1k.csv"
