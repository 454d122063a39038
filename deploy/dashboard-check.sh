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

# The sample lake and the server over it: WORK, PORT, SERVER_PID.
source deploy/sample-server.sh

mkdir -p target/dashboard-check
python3 deploy/dashboard-check.py "$CHROMIUM" "http://127.0.0.1:$PORT" target/dashboard-check/dashboard.png
