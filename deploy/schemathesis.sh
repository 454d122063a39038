#!/usr/bin/env bash
# Property-based test of the REST API against deploy/openapi.yaml with Schemathesis.
#
# Builds a local lake from the sample files (the pipeline example), starts the `serve`
# example on a free loopback port, strips the API Gateway parts from the OpenAPI document
# (x-amazon-apigateway-* extensions, the Fn::If security) and the paging token (only the
# server can make a valid one: every route's next_token), runs Schemathesis (every check:
# server errors, response schemas, status codes, content types, negative data rejected with
# 4xx...) and stops the server it started.
#
# Usage: deploy/schemathesis.sh [--max-examples N]     (default 50 per operation)
# Needs: cargo, python3 with PyYAML, schemathesis 4 (`pip install 'schemathesis>=4,<5'`).
# SCHEMATHESIS_INSTALL=1 installs both into target/schemathesis-venv first (CI does this).
# DUFF_PROFILE=debug uses the debug examples (already built by `cargo test`) instead of a
# release build (default: release).
# Exit status: Schemathesis's (0 when every check passed).
set -euo pipefail

cd "$(dirname "$0")/.."
MAX_EXAMPLES=50
if [[ "${1:-}" == "--max-examples" ]]; then
  MAX_EXAMPLES="$2"
fi

PROFILE="${DUFF_PROFILE:-release}"
if [[ "${SCHEMATHESIS_INSTALL:-0}" == "1" ]]; then
  VENV=target/schemathesis-venv
  if [[ ! -x "$VENV/bin/schemathesis" ]]; then
    if python3 -m venv "$VENV"; then
      "$VENV/bin/pip" install --quiet --disable-pip-version-check 'schemathesis>=4,<5' pyyaml
    else
      # No venv module: install for the user instead.
      python3 -m pip install --quiet --user --disable-pip-version-check 'schemathesis>=4,<5' pyyaml
      export PATH="$HOME/.local/bin:$PATH"
    fi
  fi
  if [[ -x "$VENV/bin/schemathesis" ]]; then
    export PATH="$PWD/$VENV/bin:$PATH"
  fi
fi

if ! command -v schemathesis >/dev/null 2>&1; then
  echo "schemathesis is not installed: pip install 'schemathesis>=4,<5'" >&2
  exit 2
fi

# The sample lake and the server over it: WORK, PORT, SERVER_PID.
source deploy/sample-server.sh

python3 - "$WORK/openapi.json" <<'PY'
import json, sys, yaml

def strip(node):
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items()
                if not k.startswith("x-amazon-apigateway") and k != "security"}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node

with open("deploy/openapi.yaml") as f:
    doc = strip(yaml.safe_load(f))
doc.get("components", {}).pop("securitySchemes", None)
# A paging token is only valid as the server issued it (HMAC): a generated one is rightly
# refused, so it is left out here; duff-api's tests cover tokens.
for item in doc["paths"].values():
    op = item["get"]
    op["parameters"] = [p for p in op.get("parameters", []) if not p.get("$ref", "").endswith("next_token")]
with open(sys.argv[1], "w") as f:
    json.dump(doc, f)
PY

schemathesis run "$WORK/openapi.json" \
  --url "http://127.0.0.1:$PORT" \
  --checks all \
  --max-examples "$MAX_EXAMPLES" \
  --request-timeout 10 \
  --seed 1
