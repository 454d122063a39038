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
2. The ETL function's task contract, here: every Lambda task retries the Lambda service
   errors and Duff.Retryable; a top-level Lambda task has a States.ALL Catch; a Lambda task
   inside a Map has no Catch that could swallow a failed part (only a Catch to a Fail state),
   and its Map has a States.ALL Catch. When a definition fans out over byte ranges (a Lambda
   task whose payload has range.plan or range.merge, or a Map over Lambda tasks), its shape
   is the one duff-lambda-etl implements (docs/deploy.md, "Big files"):
   - PlanRanges passes the whole-file task's object fields plus range {plan: true,
     "length.$"}, keeps $.Payload in $.etl and goes to a Choice that sends a response with
     ranges (and the plan fields the merge reads) to the Map and anything else to the
     whole-file task's next state (Outcome);
   - the Map is DISTRIBUTED over $.etl.response.ranges, tolerates no failure, selects the same
     object fields plus "range.$": "$$.Map.Item.Value", keeps a small result (ResultSelector)
     outside $.etl, and its child task sends "Payload.$": "$" and keeps only $.Payload.part;
   - MergeRanges passes the object fields plus range {merge: true, file_id, ingested_at_micros,
     parts from $.etl.response.plan}, keeps $.Payload in $.etl and goes where the whole-file
     task goes.
   When a definition has a serving step (a Lambda task whose payload is
   {"action": "update_serving"}), it is the one docs/deploy.md describes: exactly one, reached
   only from a rule that tests outcome == "published", retrying
   Lambda.TooManyRequestsException (the single writer's throttle) in a retrier of its own,
   first, with at least 10 attempts; its Next and its States.ALL Catch both end at the state
   that records the outcome (a failed update never fails an ingest that published).
3. The ASL schema, by cfn-lint (rule E3601): with --cfn-lint, each definition is wrapped in
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


LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
LAMBDA_TRANSIENT = {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
                    "Lambda.TooManyRequestsException"}
RETRYABLE = "Duff.Retryable"
PLAN_FIELDS = ("file_id", "ingested_at_micros", "parts")


def _is_lambda(st: dict) -> bool:
    return st.get("Type") == "Task" and st.get("Resource") == LAMBDA_INVOKE


def _catches_all(st: dict) -> bool:
    return any("States.ALL" in c.get("ErrorEquals", []) for c in st.get("Catch", []))


def _payload(st: dict):
    return (st.get("Parameters") or {}).get("Payload")


def _range(st: dict) -> dict:
    p = _payload(st)
    r = p.get("range") if isinstance(p, dict) else None
    return r if isinstance(r, dict) else {}


def _inner_scope(st: dict) -> dict:
    inner = st.get("ItemProcessor") or st.get("Iterator")
    return inner if isinstance(inner, dict) else {}


def check_lambda_tasks(scope: dict, path: str, errors: list[str], in_map: str | None = None) -> None:
    """Retry and Catch of every task invoking the ETL function, in every scope."""
    states = scope.get("States") or {}
    for name, st in states.items():
        where = f"{path}.{name}"
        if _is_lambda(st):
            retried = {e for r in st.get("Retry", []) for e in r.get("ErrorEquals", [])}
            if RETRYABLE not in retried:
                errors.append(f"{where}: no Retry on {RETRYABLE} (the function fails only when a retry can help)")
            if not LAMBDA_TRANSIENT <= retried:
                errors.append(f"{where}: Retry misses Lambda service errors {sorted(LAMBDA_TRANSIENT - retried)}")
            if in_map is None:
                if not _catches_all(st):
                    errors.append(f"{where}: a top-level Lambda task needs a States.ALL Catch (to RecordError)")
            else:
                for c in st.get("Catch", []):
                    if states.get(c.get("Next"), {}).get("Type") != "Fail":
                        errors.append(f"{where}: a Catch inside {in_map} that does not end in a Fail state would "
                                      "turn a failed part into a success of the Map")
        if st.get("Type") == "Map":
            inner = _inner_scope(st)
            if any(_is_lambda(s) for s in (inner.get("States") or {}).values()) and not _catches_all(st):
                errors.append(f"{where}: a Map over Lambda tasks needs a States.ALL Catch (its failed parts end there)")
            check_lambda_tasks(inner, f"{where}.ItemProcessor", errors, in_map=name)
        if st.get("Type") == "Parallel":
            for i, branch in enumerate(st.get("Branches") or []):
                check_lambda_tasks(branch, f"{where}.Branches[{i}]", errors, in_map=in_map)


def _reaches(states: dict, start: str, goal: str) -> bool:
    """Whether `goal` is on every path from `start` through Next/Catch before a terminal state."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        n = todo.pop()
        if n == goal or n in seen:
            continue
        seen.add(n)
        st = states.get(n, {})
        nexts = [st.get("Next")] + [c.get("Next") for c in st.get("Catch", [])]
        nexts = [x for x in nexts if x]
        if not nexts:
            return False
        todo.extend(nexts)
    return True


def check_serving(definition: dict, name: str, errors: list[str]) -> str | None:
    """The serving step's shape (top level). Returns a summary, or None without one."""
    states = definition.get("States") or {}
    steps = [n for n, st in states.items() if _is_lambda(st) and _payload(st) == {"action": "update_serving"}]
    if not steps:
        return None
    err = lambda msg: errors.append(f"{name}: serving step: {msg}")
    if len(steps) != 1:
        err(f"expected exactly one, found {steps}")
        return None
    step_n = steps[0]
    step = states[step_n]
    sources = []
    for n, st in states.items():
        if st.get("Next") == step_n or any(c.get("Next") == step_n for c in st.get("Catch", [])):
            sources.append(f"{n} (Next/Catch)")
        if st.get("Default") == step_n:
            sources.append(f"{n} (Default)")
        for r in st.get("Choices", []):
            if r.get("Next") == step_n:
                if r.get("Variable", "").endswith(".outcome") and r.get("StringEquals") == "published" \
                        and set(r) == {"Variable", "StringEquals", "Next"}:
                    continue
                sources.append(f"{n} (a rule other than outcome == published)")
    if sources:
        err(f"{step_n} is reached from {sources}; only a rule outcome == \"published\" may lead there")
    retries = step.get("Retry", [])
    first = retries[0] if retries else {}
    if first.get("ErrorEquals") != ["Lambda.TooManyRequestsException"] or first.get("MaxAttempts", 3) < 10:
        err(f"{step_n}: the first retrier must be Lambda.TooManyRequestsException alone with MaxAttempts >= 10 "
            "(the single writer is busy)")
    record = None
    for n, st in states.items():
        if st.get("Resource") == "arn:aws:states:::dynamodb:putItem" and \
                "serving" in ((st.get("Parameters") or {}).get("Item") or {}):
            record = n
    if record is None:
        err("no putItem records the serving step's report ($.serving)")
        return None
    for what, start in [("Next", step.get("Next"))] + [("Catch", c.get("Next")) for c in step.get("Catch", [])]:
        if not start or not _reaches(states, start, record):
            err(f"{step_n}: its {what} does not lead to {record} (a failed update must not fail the ingest)")
    return f"serving {step_n} -> {record}"


def check_fanout(definition: dict, name: str, errors: list[str]) -> str | None:
    """The byte-range fan-out's shape (top level). Returns a summary, or None without a fan-out."""
    states = definition.get("States") or {}
    lambdas = {n: st for n, st in states.items() if _is_lambda(st)}
    plans = [n for n, st in lambdas.items() if _range(st).get("plan") is True]
    merges = [n for n, st in lambdas.items() if _range(st).get("merge") is True]
    wholes = [n for n, st in lambdas.items()
              if isinstance(_payload(st), dict) and "range" not in _payload(st) and "action" not in _payload(st)]
    maps = [n for n, st in states.items() if st.get("Type") == "Map"
            and any(_is_lambda(s) for s in (_inner_scope(st).get("States") or {}).values())]
    if not (plans or merges or maps):
        return None
    err = lambda msg: errors.append(f"{name}: fan-out: {msg}")
    missing = False
    for what, found in (("plan task (range.plan: true)", plans), ("merge task (range.merge: true)", merges),
                        ("whole-file Lambda task (payload without range)", wholes), ("Map over Lambda tasks", maps)):
        if len(found) != 1:
            err(f"expected exactly one {what}, found {found}")
            missing = True
    if missing:
        return None
    plan_n, merge_n, whole_n, map_n = plans[0], merges[0], wholes[0], maps[0]
    plan, merge, whole, imap = states[plan_n], states[merge_n], states[whole_n], states[map_n]
    ident = {k: v for k, v in _payload(whole).items()}
    after = whole.get("Next")

    # The object's identity is passed the same way by every step.
    for n, st in ((plan_n, plan), (merge_n, merge)):
        rest = {k: v for k, v in _payload(st).items() if k != "range"}
        if rest != ident:
            err(f"{n} passes {sorted(rest.items())}, the whole-file task {sorted(ident.items())}")
        if st.get("ResultSelector") != {"response.$": "$.Payload"} or st.get("ResultPath") != "$.etl":
            err(f"{n} must keep the function's answer as {{response: $.Payload}} in $.etl")

    # PlanRanges -> a Choice: ranges (and the plan fields the merge reads) -> the Map; else Outcome.
    prange = _range(plan)
    if set(prange) != {"plan", "length.$"}:
        err(f"{plan_n}: range must be {{plan: true, length.$}}, got {sorted(prange)}")
    choice_n = plan.get("Next")
    choice = states.get(choice_n, {})
    if choice.get("Type") != "Choice":
        err(f"{plan_n} must be followed by a Choice on the plan's ranges, not {choice_n!r}")
    else:
        if choice.get("Default") != after:
            err(f"{choice_n}: Default {choice.get('Default')!r}; an answer without ranges must go where the "
                f"whole-file task goes ({after!r})")
        to_map = [r for r in choice.get("Choices", []) if r.get("Next") == map_n]
        if len(to_map) != 1:
            err(f"{choice_n}: needs one rule leading to {map_n}")
        else:
            rule = to_map[0]
            tests = rule.get("And", [rule])
            present = {t.get("Variable") for t in tests if t.get("IsPresent") is True}
            need = {"$.etl.response.ranges"} | {f"$.etl.response.plan.{f}" for f in PLAN_FIELDS}
            if need - present:
                err(f"{choice_n}: the rule to {map_n} must test IsPresent on {sorted(need - present)}")

    # The Map.
    if imap.get("ItemsPath") != "$.etl.response.ranges":
        err(f"{map_n}: ItemsPath {imap.get('ItemsPath')!r}, expected $.etl.response.ranges")
    cfg = _inner_scope(imap).get("ProcessorConfig") or {}
    if cfg.get("Mode") != "DISTRIBUTED":
        err(f"{map_n}: ProcessorConfig.Mode must be DISTRIBUTED")
    if imap.get("ToleratedFailurePercentage", 0) != 0 or imap.get("ToleratedFailureCount", 0) != 0:
        err(f"{map_n}: a failed part must fail the Map (tolerated failures 0)")
    sel = dict(imap.get("ItemSelector") or {})
    if sel.pop("range.$", None) != "$$.Map.Item.Value":
        err(f"{map_n}: ItemSelector must pass the item as \"range.$\": \"$$.Map.Item.Value\"")
    if sel != ident:
        err(f"{map_n}: ItemSelector passes {sorted(sel.items())}, the whole-file task {sorted(ident.items())}")
    rp = imap.get("ResultPath", "$")
    if rp is not None and (rp == "$" or rp.startswith("$.etl") or rp.startswith("$.file")):
        err(f"{map_n}: ResultPath {rp!r} would overwrite the plan ($.etl) or the object ($.file)")
    if not imap.get("ResultSelector"):
        err(f"{map_n}: no ResultSelector (the state holds at most 256 KiB: keep the Map's result small)")
    if imap.get("Next") != merge_n:
        err(f"{map_n}: Next {imap.get('Next')!r}, expected {merge_n}")
    children = [(n, s) for n, s in (_inner_scope(imap).get("States") or {}).items() if _is_lambda(s)]
    for n, s in children:
        if (s.get("Parameters") or {}).get("Payload.$") != "$":
            err(f"{map_n}.{n}: the child must send its item selection as is (\"Payload.$\": \"$\")")
        if s.get("ResultSelector") != {"part.$": "$.Payload.part"}:
            err(f"{map_n}.{n}: ResultSelector must keep only {{part: $.Payload.part}} (small Map results)")

    # MergeRanges.
    mrange = _range(merge)
    want = {"merge": True} | {f"{f}.$": f"$.etl.response.plan.{f}" for f in PLAN_FIELDS}
    if mrange != want:
        err(f"{merge_n}: range {mrange}, expected {want}")
    if merge.get("Next") != after:
        err(f"{merge_n}: Next {merge.get('Next')!r}; its answer is a whole-file ingest's and must go to {after!r}")
    return f"fan-out {plan_n} -> {choice_n} -> {map_n} -> {merge_n} -> {after}"


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
    check_lambda_tasks(definition, path.name, errors)
    check_fanout(definition, path.name, errors)
    check_serving(definition, path.name, errors)
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
            fanout = check_fanout(definition, f.name, []) if definition else None
            serving = check_serving(definition, f.name, []) if definition else None
            shape = "".join(f"; {x}" for x in (fanout, serving) if x)
            print(f"ok   {f.name}: {n_states} top-level states, graph, Lambda retries/catches{schema} valid{shape}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
