#!/usr/bin/env bash
# The dashboard in a real browser: Debian's `chromium`, headless, over a sample lake.
#
# Builds a local lake from the sample files (the pipeline example), starts the `serve`
# example on a free loopback port, opens `/` in headless Chromium and checks, through the
# DevTools protocol (deploy/dashboard-check.py), that every chart rendered, that the numbers
# shown equal the API's, that the quarantined rows of day1.csv are one click away, and that
# no console error and no request outside the origin happened. Keeps a screenshot and
# prints its path (target/dashboard-check/dashboard.png: the CI artifact).
#
# Usage: deploy/dashboard-check.sh
# Needs: cargo, python3; `chromium` (installed with apt-get when missing, as root).
# DUFF_PROFILE=debug uses the debug examples (already built by `cargo test`) instead of a
# release build (default: release). CHROMIUM=path overrides the browser.
# Exit status: 0 when every check passed.
set -euo pipefail

cd "$(dirname "$0")/.."
PROFILE="${DUFF_PROFILE:-release}"

CHROMIUM="${CHROMIUM:-$(command -v chromium || true)}"
if [[ -z "$CHROMIUM" ]]; then
  if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null \
      || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null; }
    CHROMIUM="$(command -v chromium)"
  else
    echo "chromium is not installed: apt-get install chromium" >&2
    exit 2
  fi
fi

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if [[ "$PROFILE" == "release" ]]; then
  cargo build --release -p duff-cli --example pipeline
  cargo build --release -p duff-cli --example serve
elif [[ ! -x target/debug/examples/pipeline || ! -x target/debug/examples/serve ]]; then
  cargo build --workspace --examples
fi
BIN="target/$PROFILE/examples"
"./$BIN/pipeline" --lake "$WORK/lake" --max-rows 3 \
  examples/data/day1.csv examples/data/day2.csv examples/data/orders.csv >/dev/null 2>&1

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
"./$BIN/serve" --lake "$WORK/lake" --addr "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/health', timeout=1)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    cat "$WORK/serve.log" >&2
    exit 1
  fi
  sleep 0.1
done

mkdir -p target/dashboard-check
python3 deploy/dashboard-check.py "$CHROMIUM" "http://127.0.0.1:$PORT" target/dashboard-check/dashboard.png
