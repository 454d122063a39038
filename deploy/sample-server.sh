# Sourced by deploy/schemathesis.sh and deploy/dashboard-check.sh (from the repository root,
# with PROFILE set to `release` or `debug`): builds a lake from the sample files in a
# temporary folder, starts the `serve` example over it on a free loopback port and waits
# until it answers `/health`. Sets WORK (the folder), PORT and SERVER_PID; the server and
# the folder are removed when the calling script exits.

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
  # After `cargo test --workspace` both are already built (with the workspace's features);
  # building one package alone would resolve features differently and rebuild DataFusion.
  cargo build --workspace --examples
fi
BIN="target/$PROFILE/examples"
"./$BIN/pipeline" --lake "$WORK/lake" --max-rows 3 \
  examples/data/day1.csv examples/data/day2.csv examples/data/orders.csv >/dev/null

# A free port on the loopback interface.
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
