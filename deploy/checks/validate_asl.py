#!/usr/bin/env python3
"""Validates the Step Functions definitions in deploy/statemachine/*.asl.json.

Two layers:

1. Structure and graph, here (standard library only): the file is JSON; every scope
   (the top level, each Map ItemProcessor/Iterator, each Parallel branch) has a StartAt that
   exists; every Next, Default, Choices[].Next and Catch[].Next names a state of the same
   scope; every state is reachable from StartAt; a scope can terminate; non-terminal states
   have exactly one of Next/End; Choice rules have a Next; Retry/Catch ErrorEquals are
   non-empty and States.ALL stands alone and last; every "key.$" value is a path
   ("$...", "$$...") or an intrinsic function ("States.X(...)").
2. The ASL schema, by cfn-lint (rule E3601): with --cfn-lint, each definition is wrapped in
   a throw-away AWS::StepFunctions::StateMachine template (substitutions given dummy values)
   and linted; any error fails.

Usage: validate_asl.py [--cfn-lint PATH] [--work DIR] [FILE ...]
Exit status 0 when every definition is valid.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
INTRINSIC = re.compile(r"^States\.[A-Za-z]+\(")
TERMINAL = {"Succeed", "Fail"}
NEEDS_TRANSITION = {"Task", "Pass", "Wait", "Map", "Parallel"}


def _choice_targets(rules: list) -> list[str]:
    return [r["Next"] for r in rules if isinstance(r, dict) and "Next" in r]


def _check_paths(node, where: str, errors: list[str]) -> None:
    """Every "x.$" value must be a path or an intrinsic function."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k.endswith(".$"):
                if not isinstance(v, str) or not (v.startswith("$") or INTRINSIC.match(v)):
                    errors.append(f"{where}: '{k}' must hold a path or an intrinsic function, got {v!r}")
            _check_paths(v, where, errors)
    elif isinstance(node, list):
        for item in node:
            _check_paths(item, where, errors)


def _check_error_lists(state: dict, where: str, errors: list[str]) -> None:
    for field in ("Retry", "Catch"):
        entries = state.get(field, [])
        for i, entry in enumerate(entries):
            names = entry.get("ErrorEquals")
            if not names:
                errors.append(f"{where}: {field}[{i}] has no ErrorEquals")
                continue
            if "States.ALL" in names and (len(names) != 1 or i != len(entries) - 1):
                errors.append(f"{where}: {field}[{i}]: States.ALL must stand alone, in the last entry")
            if field == "Catch" and "Next" not in entry:
                errors.append(f"{where}: Catch[{i}] has no Next")


def check_scope(scope: dict, path: str, errors: list[str]) -> None:
    """Checks one set of States with its StartAt, then the nested scopes."""
    states = scope.get("States")
    start = scope.get("StartAt")
    if not isinstance(states, dict) or not states:
        errors.append(f"{path}: no States")
        return
    if start not in states:
        errors.append(f"{path}: StartAt '{start}' is not a state")
        return

    edges: dict[str, list[str]] = {}
    for name, st in states.items():
        where = f"{path}.{name}"
        kind = st.get("Type")
        targets: list[str] = []
        if kind is None:
            errors.append(f"{where}: no Type")
            continue
        if kind == "Choice":
            rules = st.get("Choices") or []
            if not rules:
                errors.append(f"{where}: a Choice state needs Choices")
            for i, rule in enumerate(rules):
                if "Next" not in rule:
                    errors.append(f"{where}: Choices[{i}] has no Next")
            targets += _choice_targets(rules)
            if "Default" in st:
                targets.append(st["Default"])
            if "Next" in st or "End" in st:
                errors.append(f"{where}: a Choice state takes neither Next nor End")
        elif kind in TERMINAL:
            if "Next" in st or "End" in st:
                errors.append(f"{where}: a {kind} state takes neither Next nor End")
        elif kind in NEEDS_TRANSITION:
            has_next, has_end = "Next" in st, st.get("End") is True
            if has_next == has_end:
                errors.append(f"{where}: needs exactly one of Next or End: true")
            if has_next:
                targets.append(st["Next"])
        else:
            errors.append(f"{where}: unknown Type '{kind}'")
        targets += [c["Next"] for c in st.get("Catch", []) if "Next" in c]
        for t in targets:
            if t not in states:
                errors.append(f"{where}: transition to '{t}', which is not a state of {path}")
        edges[name] = [t for t in targets if t in states]
        _check_error_lists(st, where, errors)
        _check_paths(st, where, errors)

        if kind == "Map":
            inner = st.get("ItemProcessor") or st.get("Iterator")
            if not isinstance(inner, dict):
                errors.append(f"{where}: a Map state needs an ItemProcessor")
            else:
                check_scope(inner, f"{where}.ItemProcessor", errors)
        if kind == "Parallel":
            for i, branch in enumerate(st.get("Branches") or []):
                check_scope(branch, f"{where}.Branches[{i}]", errors)
            if not st.get("Branches"):
                errors.append(f"{where}: a Parallel state needs Branches")

    seen, todo = set(), [start]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        todo += edges.get(n, [])
    for name in states:
        if name not in seen:
            errors.append(f"{path}.{name}: unreachable from StartAt '{start}'")

    ends = [n for n, st in states.items() if st.get("Type") in TERMINAL or st.get("End") is True]
    if not ends:
        errors.append(f"{path}: no terminal state (Succeed, Fail or End: true)")


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def validate_file(path: Path) -> tuple[dict | None, list[str]]:
    errors: list[str] = []
    text = path.read_text(encoding="utf-8")
    try:
        definition = json.loads(text)
    except json.JSONDecodeError as e:
        return None, [f"{path.name}: not JSON: {e}"]
    if not isinstance(definition, dict):
        return None, [f"{path.name}: the definition is not a JSON object"]
    check_scope(definition, path.name, errors)
    return definition, errors


def schema_check(cfn_lint: str, work: Path, name: str, definition: dict, subs: set[str]) -> list[str]:
    """Lints the definition with cfn-lint's Step Functions schema (E3601)."""
    work.mkdir(parents=True, exist_ok=True)
    wrapper = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "StateMachine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": "arn:aws:iam::123456789012:role/placeholder",
                    "Definition": definition,
                    "DefinitionSubstitutions": {s: "1" for s in sorted(subs)},
                },
            }
        },
    }
    out = work / f"{name}.cfn.json"
    out.write_text(json.dumps(wrapper, indent=1), encoding="utf-8")
    r = subprocess.run([cfn_lint, "--", str(out)], capture_output=True, text=True)
    if r.returncode == 0:
        return []
    lines = (r.stdout + r.stderr).strip().splitlines()
    return [f"{name}: cfn-lint: {line}" for line in lines if line.strip()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--cfn-lint", help="path of cfn-lint, to check the ASL schema too")
    ap.add_argument("--work", type=Path, default=DEPLOY.parent / "target" / "deploy-checks")
    args = ap.parse_args()
    files = args.files or sorted((DEPLOY / "statemachine").glob("*.asl.json"))
    if not files:
        print("validate_asl: no *.asl.json found", file=sys.stderr)
        return 1
    failed = 0
    for f in files:
        definition, errors = validate_file(f)
        if definition is not None and args.cfn_lint:
            subs = placeholders(f.read_text(encoding="utf-8"))
            errors += schema_check(args.cfn_lint, args.work, f.name.split(".")[0], definition, subs)
        n_states = len(definition.get("States", {})) if definition else 0
        if errors:
            failed += 1
            print(f"FAIL {f.name}")
            for e in errors:
                print(f"  {e}")
        else:
            schema = " + cfn-lint schema" if args.cfn_lint else ""
            print(f"ok   {f.name}: {n_states} top-level states, graph{schema} valid")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
