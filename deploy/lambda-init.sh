#!/usr/bin/env bash
# The API Lambda's cold start under a Lambda runtime emulator (cargo-lambda's, from PyPI:
# `cargo lambda watch --only-lambda-apis`), over a local lake built from the bundled sample.
#
# Usage: deploy/lambda-init.sh [RUNS]            (default: 5 cold starts per engine)
#
# For each run: starts the emulator's runtime API, starts the function binary against it
# (the environment the emulator asks for, DUFF_LAKE_URI a local folder), sends the
# `/health` and one report event (duff-lambda-api/tests/data/*.json) and prints the wall
# time from the process start to the first answer (init plus the first invocation, what a
# cold request waits for), then the second answer (warm). No AWS account here: the lake is a
# local folder, so S3 latency is not part of these figures (docs/deploy.md, "Reading").
#
# Environment: DUFF_PROFILE (release), DUFF_FEATURES (`--no-default-features`: the serving
# and Athena engines; empty for the default features, DataFusion included), SERVING_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
PROFILE=${DUFF_PROFILE:-release}
FEATURES=${DUFF_FEATURES---no-default-features}
WORK=${SERVING_DIR:-/tmp/duff-lambda-init}
PORT=${DUFF_EMULATOR_PORT:-9311}
mkdir -p "$WORK"

# shellcheck disable=SC2086 # FEATURES is a list of flags
cargo build --profile "$PROFILE" -p duff-lambda-api $FEATURES --bin duff-lambda-api
cargo build --profile "$PROFILE" -p duff-cli --example pipeline
TARGET=${CARGO_TARGET_DIR:-target}/$([[ $PROFILE == dev ]] && echo debug || echo "$PROFILE")
BIN=$TARGET/duff-lambda-api

if [[ ! -x $WORK/venv/bin/cargo-lambda ]]; then
  python3 -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install --quiet 'cargo-lambda==1.9.2'
fi
CL=$WORK/venv/bin/cargo-lambda

rm -rf "$WORK/lake"
"$TARGET/examples/pipeline" --lake "$WORK/lake" >/dev/null

"$CL" lambda watch --only-lambda-apis -P "$PORT" >"$WORK/emulator.log" 2>&1 &
EMU=$!
FN=
cleanup() {
  [[ -n $FN ]] && kill "$FN" 2>/dev/null || true
  kill "$EMU" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do
  grep -q "starting Runtime server" "$WORK/emulator.log" && break
  sleep 0.1
done

ms() { date +%s%3N; }
invoke() { # EVENT: prints the status code of the API Gateway answer (the emulator's Invoke API)
  curl -sS --max-time 60 -X POST --data-binary "@duff-lambda-api/tests/data/$1.json" \
    "http://127.0.0.1:$PORT/2015-03-31/functions/_/invocations" | grep -o '"statusCode": *[0-9]*' | grep -o '[0-9]*$'
}

echo "commit $(git rev-parse --short HEAD), profile $PROFILE ${FEATURES:-(default features)}," \
  "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), binary $(stat -c %s "$BIN") bytes"
printf '%-10s %-5s %14s %14s\n' engine run "cold ms" "warm ms"
for engine in serving ${DUFF_ENGINES:-}; do
  for run in $(seq "$RUNS"); do
    t0=$(ms)
    AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1769 \
      AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$PORT/.rt" AWS_LAMBDA_FUNCTION_NAME=_ \
      AWS_REGION=eu-west-1 DUFF_LAKE_URI="$WORK/lake" DUFF_QUERY_ENGINE=$engine \
      "$BIN" >"$WORK/function.log" 2>&1 &
    FN=$!
    code=$(invoke order_status_stage_in_path)
    t1=$(ms)
    code2=$(invoke order_status_stage_in_path)
    t2=$(ms)
    kill "$FN"
    wait "$FN" 2>/dev/null || true
    FN=
    [[ $code == 200 && $code2 == 200 ]] || { echo "unexpected status $code/$code2" >&2; cat "$WORK/function.log" >&2; exit 1; }
    printf '%-10s %-5s %14d %14d\n' "$engine" "$run" $((t1 - t0)) $((t2 - t1))
  done
done
