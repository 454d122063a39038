#!/usr/bin/env bash
# The deploy/ checks, as CI runs them (`bash deploy/checks/run.sh` from any directory).
#
# 1. cfn-lint on deploy/template.yaml: 0 errors (warnings are printed, and fail too).
# 2. checkov on deploy/template.yaml: 0 failed checks (a check that does not apply is skipped
#    in the template, under Metadata: checkov: skip:, with its reason).
# 3. The ASL definitions: graph and structure (validate_asl.py) and the ASL schema (cfn-lint).
# 4. The template against the Rust code (check_template.py).
#
# Tools come from PyPI into a virtual environment under target/ (pinned versions, installed
# once; DEPLOY_VENV overrides the location; without the venv module, pip --user). No AWS account or credentials are used: nothing
# here talks to AWS.
set -euo pipefail
cd "$(dirname "$0")/../.."

CFN_LINT_VERSION=1.58.0
CHECKOV_VERSION=3.3.30
VENV=${DEPLOY_VENV:-target/deploy-venv}
PY=$VENV/bin/python

PIP_ARGS=()
BIN=$VENV/bin
installed() { "$PY" -m pip show "$1" 2>/dev/null | sed -n 's/^Version: //p'; }

if [ ! -x "$PY" ]; then
  echo "== deploy: creating $VENV"
  if ! python3 -m venv "$VENV"; then
    # No venv module (e.g. Debian without python3-venv): install for the user instead.
    echo "== deploy: no venv, installing with pip --user"
    rm -rf "$VENV"
    PY=python3
    PIP_ARGS=(--user)
    BIN=$(python3 -m site --user-base)/bin
  fi
fi
if [ "$(installed cfn-lint)" != "$CFN_LINT_VERSION" ] || [ "$(installed checkov)" != "$CHECKOV_VERSION" ]; then
  echo "== deploy: installing cfn-lint $CFN_LINT_VERSION and checkov $CHECKOV_VERSION from PyPI"
  "$PY" -m pip install --quiet --disable-pip-version-check "${PIP_ARGS[@]}" \
    "cfn-lint==$CFN_LINT_VERSION" "checkov==$CHECKOV_VERSION"
fi

passed=0
failed=0
step() { # name, command...
  local name=$1
  shift
  echo "== deploy: $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    echo "FAILED: $name"
    failed=$((failed + 1))
  fi
}

cfn_lint() {
  local out rc=0
  out=$("$BIN/cfn-lint" --format parseable -- deploy/template.yaml) || rc=$?
  [ -n "$out" ] && echo "$out"
  local errors warnings
  errors=$(grep -c ':E[0-9]' <<<"$out" || true)
  warnings=$(grep -c ':W[0-9]' <<<"$out" || true)
  echo "cfn-lint $CFN_LINT_VERSION: $errors errors, $warnings warnings (exit $rc)"
  [ "$rc" -eq 0 ]
}

checkov_scan() {
  local json rc=0
  # BC_SKIP_MAPPING and --skip-download: no call to the vendor's platform (offline CI).
  json=$(BC_SKIP_MAPPING=TRUE "$BIN/checkov" --quiet --skip-download --framework cloudformation \
    -f deploy/template.yaml -o json 2>/dev/null) || rc=$?
  "$PY" - "$json" <<'EOF' || rc=1
import json, sys
data = json.loads(sys.argv[1])
reports = data if isinstance(data, list) else [data]
totals = {"passed": 0, "failed": 0, "skipped": 0}
for r in reports:
    s = r["summary"]
    for k in totals:
        totals[k] += s[k]
    for c in r["results"].get("failed_checks", []):
        print(f"  FAILED {c['check_id']} {c['resource']}: {c['check_name']} (line {c['file_line_range']})")
    for c in r["results"].get("skipped_checks", []):
        print(f"  skipped {c['check_id']} {c['resource']}: {c['check_result'].get('suppress_comment', '')}")
print(f"checkov: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
sys.exit(1 if totals["failed"] else 0)
EOF
  [ "$rc" -eq 0 ]
}

step "cfn-lint deploy/template.yaml" cfn_lint
step "checkov deploy/template.yaml" checkov_scan
step "ASL definitions" "$PY" deploy/checks/validate_asl.py --cfn-lint "$BIN/cfn-lint"
step "template against the code" "$PY" deploy/checks/check_template.py

echo "deploy checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
