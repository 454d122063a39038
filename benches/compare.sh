#!/usr/bin/env bash
# Our pipeline against DuckDB and Polars on the same orders CSV, in the same run.
#
# Usage: benches/compare.sh [ROWS ...]        (default: 1000000 10000000)
#        COMPARE_CORES=1 benches/compare.sh ...   one core: every job pinned to CPU 0
#          (`taskset -c 0`), Polars with POLARS_MAX_THREADS=1, DuckDB with `--threads 1`;
#          adds MB/s per core and the Lambda cost per GB of CSV at 1,769 MB (one vCPU),
#          from the price in docs/cost.md.
#
# Generates each file with the shared baseline's generator (../shared/bench/gen_orders.py,
# seeded, 0.1 % malformed rows), then times whole processes with GNU time: our `pipeline`
# (ingest into a fresh lake + the reports over it), and the baseline's `duck.py` and
# `pola.py` (installed from PyPI into target/compare-venv). Prints wall, CPU, peak RSS and
# MB/s side by side, median of 3 runs after one warm-up.
#
# Our job does more than the baseline's: quarantine with reasons, manifest, lineage,
# dimensions, the serving state (the first fold) and the reports over it. Two more rows
# split our median runs into the steps the pipeline prints: the ingest (the lake itself,
# the part of the job the baseline's scripts also do) and the serving update (the first
# fold); their wall times are the pipeline's own clocks, not whole processes.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=../shared/bench
[[ -f "$BENCH/gen_orders.py" ]] || { echo "needs the shared baseline at $BENCH" >&2; exit 2; }
if [[ $# -gt 0 ]]; then ROWS=("$@"); else ROWS=(1000000 10000000); fi
WORK=${COMPARE_DIR:-/tmp/duff-compare}
mkdir -p "$WORK"

TARGET=${CARGO_TARGET_DIR:-target}
VENV=$TARGET/compare-venv
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check duckdb polars pyarrow
fi
PY="$(cd "$VENV" && pwd)/bin/python"
cargo build --release -p duff-cli --example pipeline

# run NAME CMD... -> prints "wall cpu peak_kib" (median of 3 after a warm-up)
measure() {
  local out=() i
  "$@" >/dev/null 2>&1 || true
  for i in 1 2 3; do
    /usr/bin/time -f "%e %U %S %M" -o "$WORK/time.txt" "$@" >/dev/null 2>&1
    out+=("$(awk '{printf "%.2f %.2f %d\n", $1, $2 + $3, $4}' "$WORK/time.txt")")
  done
  printf '%s\n' "${out[@]}" | sort -n | sed -n 2p
}

# The median of our measured runs' own time for a step (the pattern of the line the
# pipeline prints for it), from their stderr in ours.log (the warm-up's lines come first).
step() {
  { grep -oE "$1" "$WORK/ours.log" || true; } | grep -oE '[0-9]+\.[0-9]+' | tail -n 3 | sort -n | sed -n 2p || true
}

CORES=${COMPARE_CORES:-}
PIN=()
DUCK_ARGS=()
if [[ $CORES == 1 ]]; then
  PIN=(taskset -c 0)
  DUCK_ARGS=(--threads 1)
  export POLARS_MAX_THREADS=1
fi
# Lambda's price per GB-second (x86, first tier; docs/cost.md) and the memory of one vCPU.
GB_S_USD=0.0000166667
LAMBDA_GB=$(awk 'BEGIN { print 1769 / 1024 }')

if [[ $CORES == 1 ]]; then
  printf '| rows | job (1 core) | wall s | cpu s | peak MiB | MB/s per core | Lambda USD per GB of CSV |\n|---:|---|---:|---:|---:|---:|---:|\n'
else
  printf '| rows | job | wall s | cpu s | peak MiB | MB/s |\n|---:|---|---:|---:|---:|---:|\n'
fi
for n in "${ROWS[@]}"; do
  csv="$WORK/orders_$n.csv"
  [[ -f "$csv" ]] || python3 "$BENCH/gen_orders.py" "$n" "$csv" --bad-frac 0.001 >/dev/null
  bytes=$(stat -c %s "$csv")
  for job in ours duck pola; do
    case $job in
      ours)
        : >"$WORK/ours.log"
        read -r wall cpu peak < <(measure "${PIN[@]}" bash -c \
          "rm -rf '$WORK/lake' && $TARGET/release/examples/pipeline --lake '$WORK/lake' --max-rows 1 '$csv' 2>>'$WORK/ours.log'") ;;
      duck) read -r wall cpu peak < <(measure "${PIN[@]}" "$PY" "$BENCH/duck.py" "$csv" "$WORK/out_duck" "${DUCK_ARGS[@]}") ;;
      pola) read -r wall cpu peak < <(measure "${PIN[@]}" "$PY" "$BENCH/pola.py" "$csv" "$WORK/out_pola") ;;
    esac
    if [[ $CORES == 1 ]]; then
      awk -v n="$n" -v j="$job" -v w="$wall" -v c="$cpu" -v p="$peak" -v b="$bytes" -v g="$LAMBDA_GB" -v u="$GB_S_USD" \
        'BEGIN { printf "| %d | %s | %.2f | %.2f | %.0f | %.0f | %.5f |\n", n, j, w, c, p / 1024, b / w / 1e6, w * g * u * 1e9 / b }'
    else
      awk -v n="$n" -v j="$job" -v w="$wall" -v c="$cpu" -v p="$peak" -v b="$bytes" \
        'BEGIN { printf "| %d | %s | %.2f | %.2f | %.0f | %.0f |\n", n, j, w, c, p / 1024, b / w / 1e6 }'
    fi
    if [[ $job == ours ]]; then
      for s in "ingest step|\([0-9.]+ s, [0-9]+ MB/s" "serving update (first fold)|lines changed, [0-9.]+ s"; do
        secs=$(step "${s#*|}")
        if [[ -n $secs ]]; then
          awk -v n="$n" -v j="ours: ${s%%|*}" -v w="$secs" -v b="$bytes" -v one="$CORES" \
            'BEGIN { printf "| %d | %s | %.2f | | | %.0f |%s\n", n, j, w, b / w / 1e6, one == 1 ? " |" : "" }'
        fi
      done
    fi
  done
done
