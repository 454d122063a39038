#!/usr/bin/env python3
"""Checks deploy/template.yaml (and the ASL and OpenAPI it uses) against the Rust code.

The code is read as text, never built: const names, serde fields and string literals are
the contract between the stack and the binaries. Each check prints `ok` or `FAIL` with
what differs; the last line is `N passed, N failed`. Exit status 0 when nothing failed.

What is checked:
- functions: BuildMethod rust-cargolambda, Binary = a workspace package whose default binary
  exists (duff-lambda-etl, duff-lambda-api), CodeUri = the workspace root, bootstrap handler,
  provided.al2023, arm64;
- environment: every variable the template sets is one the crate reads, every variable
  CONTRACT section 5 requires is set, values inside the ranges the code accepts;
- lake tables: the Glue tables are duff-core's tables (Table::name) plus manifests, with the
  columns and types of duff-core's Arrow schemas, partitioned by ingest_date exactly where
  docs/lake.md's layout is, with a projection template that matches the location; plus the
  serving state's tables (duff-api's SERVING_TABLES), symlink tables over the manifests
  duff-lake writes under its ATHENA folder;
- API: the role may read every table the report SQL of duff-api queries; the OpenAPI
  document (when present) serves duff-api's ROUTES through ApiFunction;
- state machine: substitutions match, the Lambda task payload fits duff-lambda-etl's task
  input, the outcomes compared are the handler's, the retried error type exists;
- big-file fan-out: the lake bucket expires <LakePrefix>/_fanout/ (and its noncurrent
  versions), the ETL role may get, put (copy) and delete under the lake prefix, parts of one
  file run below the function's reserved concurrency; the range fields the ASL sends and the
  answer fields it reads are names duff-lambda-etl or duff-lake use, and the code names the
  _fanout/ prefix;
- security: no wildcard action, every "*" resource commented, buckets encrypted, private,
  TLS-only, with AbortIncompleteMultipartUpload; the EventBridge rule is incoming/ + .csv.

Usage: check_template.py  (needs PyYAML, installed with cfn-lint)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
TEMPLATE = DEPLOY / "template.yaml"

# ------------------------------------------------------------------------------------------
# Loading CloudFormation YAML (short-form intrinsic tags become {"Fn::X": value}).
# ------------------------------------------------------------------------------------------


class CfnLoader(yaml.SafeLoader):
    pass


def _tag(name: str):
    def construct(loader, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if name == "Fn::GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        key = "Ref" if name == "Ref" else name
        return {key: value}

    return construct


for _t in ["Ref", "Sub", "GetAtt", "If", "Equals", "Not", "And", "Or", "Join", "Select", "Split",
           "FindInMap", "GetAZs", "ImportValue", "Base64", "Cidr", "Transform", "Condition"]:
    CfnLoader.add_constructor(f"!{_t}", _tag("Ref" if _t == "Ref" else f"Fn::{_t}"))


def load_yaml(path: Path):
    return yaml.load(path.read_text(encoding="utf-8"), Loader=CfnLoader)


def read(rel: str) -> str:
    return (ROOT / rel).read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------
# Reporting
# ------------------------------------------------------------------------------------------

RESULTS: list[tuple[str, list[str], list[str]]] = []


def check(name: str):
    def wrap(fn):
        def run(*args):
            errors: list[str] = []
            notes: list[str] = []
            try:
                fn(errors, notes, *args)
            except Exception as e:  # a check that crashes is a failed check, with the reason
                errors.append(f"the check itself failed: {type(e).__name__}: {e}")
            RESULTS.append((name, errors, notes))

        return run

    return wrap


# ------------------------------------------------------------------------------------------
# Facts read from the code
# ------------------------------------------------------------------------------------------


def workspace_members() -> list[str]:
    text = read("Cargo.toml")
    m = re.search(r"members\s*=\s*\[(.*?)\]", text, re.S)
    return re.findall(r'"([^"]+)"', m.group(1)) if m else []


def package_name(member: str) -> str | None:
    m = re.search(r'^name\s*=\s*"([^"]+)"', read(f"{member}/Cargo.toml"), re.M)
    return m.group(1) if m else None


def env_vars_read(crate_dir: str) -> set[str]:
    names: set[str] = set()
    for f in (ROOT / crate_dir / "src").rglob("*.rs"):
        names |= set(re.findall(r'"(DUFF_[A-Z0-9_]+)"', f.read_text(encoding="utf-8")))
    return names


def lake_table_names() -> list[str]:
    text = read("duff-core/src/lake.rs")
    m = re.search(r"pub const fn name\(self\).*?\{(.*?)\n    \}", text, re.S)
    return re.findall(r'Table::\w+\s*=>\s*"([a-z_]+)"', m.group(1)) if m else []


def model_table_names() -> list[str]:
    """The models duff_local::Lake::write_models writes to models/<name>/ (its literal list;
    the aggregates and marts it appends are views in Athena, not tables)."""
    text = read("duff-lake/src/lib.rs")
    m = re.search(r"pub fn write_models\(.*?let mut tables.*?= vec!\[(.*?)\];", text, re.S)
    return re.findall(r'\("([a-z0-9_]+)",', m.group(1)) if m else []


# Rust-built models with a Glue table (order_line_current is the always-current view instead).
def serving_table_names() -> list[str]:
    """The serving state's tables by their SQL names (duff-api's catalog::SERVING_TABLES)."""
    text = read("duff-api/src/catalog.rs")
    m = re.search(r"pub const SERVING_TABLES: \[\(&str, &str\); \d+\] = \[(.*?)\];", text, re.S)
    return re.findall(r'\("([a-z_]+)", "[a-z_]+"\)', m.group(1)) if m else []


GLUE_MODELS = {"dim_client_scd2", "dim_product_scd2", "fact_order_status_event", "fact_order_lifecycle"}


ARROW_TO_GLUE = {
    "DataType::Int64": "bigint",
    "DataType::Utf8": "string",
    "DataType::Boolean": "boolean",
    "MONEY": "decimal(18,2)",
    "VOLUME": "decimal(18,6)",
    "timestamp_type()": "timestamp",
}


def arrow_schemas() -> dict[str, list[tuple[str, str]]]:
    """Columns of each table from duff-core/src/tables.rs, in order, as Glue types."""
    text = read("duff-core/src/tables.rs")
    field = re.compile(r'f\("([a-z_]+)",\s*([A-Za-z0-9_:]+(?:\(\))?)\)')

    def fields(body: str) -> list[tuple[str, str]]:
        return [(n, ARROW_TO_GLUE.get(t, f"?{t}")) for n, t in field.findall(body)]

    lineage = fields(re.search(r"fn lineage_fields\(\).*?\{(.*?)\n\}", text, re.S).group(1))
    out: dict[str, list[tuple[str, str]]] = {}
    for table in ("fact_order_line", "quarantine", "dim_client", "dim_product"):
        body = re.search(rf"pub fn {table}_schema\(\).*?\{{(.*?)\n\}}", text, re.S).group(1)
        cols = fields(body)
        if "lineage_fields()" in body:
            cols += lineage
        out[table] = cols
    for table in ("dim_channel", "dim_status"):
        body = re.search(rf"pub fn {table}_batch\(\).*?Schema::new\(vec!\[(.*?)\]\)", text, re.S).group(1)
        out[table] = fields(body)
    return out


def manifest_fields() -> set[str]:
    text = read("duff-core/src/manifest.rs")
    body = re.search(r"pub struct Manifest \{(.*?)\n\}", text, re.S).group(1)
    return set(re.findall(r"pub ([a-z_]+):", body))


def partitioned_tables_in_docs() -> dict[str, bool]:
    """From docs/lake.md's layout block: table -> whether its path has ingest_date=."""
    out: dict[str, bool] = {}
    for line in read("docs/lake.md").splitlines():
        m = re.match(r"^([a-z_]+)/(\S+)", line)
        if m and m.group(1) != "manifests":
            out[m.group(1)] = "ingest_date=" in m.group(2)
    return out


def task_input_fields() -> set[str]:
    text = read("duff-lambda-etl/src/event.rs")
    body = re.search(r"struct TaskInput \{(.*?)\n\}", text, re.S).group(1)
    return set(re.findall(r"^\s*([a-z_]+):", body, re.M))


def etl_actions() -> set[str]:
    """The maintenance actions duff-lambda-etl/src/event.rs decodes (`Action::name`)."""
    text = read("duff-lambda-etl/src/event.rs")
    body = re.search(r"pub const fn name\(self\) -> &'static str \{(.*?)\n    \}", text, re.S).group(1)
    return set(re.findall(r'Action::[A-Za-z]+ => "([a-z_]+)"', body))


def record_outcomes() -> set[str]:
    text = read("duff-lambda-etl/src/handler.rs")
    body = re.search(r"pub enum RecordOutcome \{(.*?)\n\}", text, re.S).group(1)
    variants = re.findall(r"^\s*([A-Z][A-Za-z]+),", body, re.M)
    return {re.sub(r"(?<!^)([A-Z])", r"_\1", v).lower() for v in variants}


def report_sql_tables() -> set[str]:
    """Tables and views the report SQL of duff-api reads (CTE names excluded)."""
    text = read("duff-api/src/catalog.rs")
    refs = set(re.findall(r"\b(?:FROM|JOIN)\s+([a-z_][a-z0-9_]*)", text))
    ctes = set(re.findall(r"(?:\bWITH\s+|,\s*)([a-z_][a-z0-9_]*)\s+AS\s*\(", text))
    return refs - ctes


def api_routes() -> list[str]:
    text = read("duff-api/src/http.rs")
    m = re.search(r"pub const ROUTES: \[&str; \d+\] = \[(.*?)\];", text, re.S)
    return re.findall(r'"(/[^"]*)"', m.group(1)) if m else []


# ------------------------------------------------------------------------------------------
# Template helpers
# ------------------------------------------------------------------------------------------


def resources(t: dict, kind: str) -> dict[str, dict]:
    return {k: v for k, v in t["Resources"].items() if v.get("Type") == kind}


def function_props(t: dict, name: str) -> dict:
    props = dict(t.get("Globals", {}).get("Function", {}))
    props.update(t["Resources"][name]["Properties"])
    return props


def policy_statements(role: dict) -> list[dict]:
    out = []
    for p in role["Properties"].get("Policies", []):
        out += p["PolicyDocument"]["Statement"]
    return out


def as_list(v) -> list:
    return v if isinstance(v, list) else [v]


def flatten_strings(v) -> list[str]:
    if isinstance(v, str):
        return [v]
    if isinstance(v, list):
        return [s for x in v for s in flatten_strings(x)]
    if isinstance(v, dict):
        return [s for x in v.values() for s in flatten_strings(x)]
    return []


# ------------------------------------------------------------------------------------------
# Checks
# ------------------------------------------------------------------------------------------

EXPECTED_FUNCTIONS = {"EtlFunction": "duff-lambda-etl", "ServingFunction": "duff-lambda-etl",
                      "ApiFunction": "duff-lambda-api"}

# CONTRACT section 5: what each function must be given.
REQUIRED_ENV = {
    "EtlFunction": {"DUFF_LAKE_URI", "DUFF_REJECT_THRESHOLD"},
    "ServingFunction": {"DUFF_LAKE_URI"},
    "ApiFunction": {"DUFF_LAKE_URI", "DUFF_QUERY_ENGINE", "DUFF_ATHENA_DATABASE", "DUFF_ATHENA_WORKGROUP"},
}


@check("functions are the workspace's Lambda binaries, built by cargo-lambda for arm64")
def check_functions(errors, notes, t):
    fns = resources(t, "AWS::Serverless::Function")
    if set(fns) != set(EXPECTED_FUNCTIONS):
        errors.append(f"functions {sorted(fns)}, expected {sorted(EXPECTED_FUNCTIONS)}")
    packages = {package_name(m): m for m in workspace_members()}
    for name, binary in EXPECTED_FUNCTIONS.items():
        if name not in fns:
            continue
        meta = fns[name].get("Metadata", {})
        props = function_props(t, name)
        if meta.get("BuildMethod") != "rust-cargolambda":
            errors.append(f"{name}: BuildMethod {meta.get('BuildMethod')!r}, expected rust-cargolambda")
        got = meta.get("BuildProperties", {}).get("Binary")
        if got != binary:
            errors.append(f"{name}: Binary {got!r}, expected {binary!r}")
        if binary not in packages:
            errors.append(f"{name}: no workspace member is the package {binary!r}")
        elif not (ROOT / packages[binary] / "src" / "main.rs").exists():
            errors.append(f"{name}: {packages[binary]}/src/main.rs (the default binary) is missing")
        code_dir = (DEPLOY / props.get("CodeUri", "")).resolve()
        if code_dir != ROOT:
            errors.append(f"{name}: CodeUri resolves to {code_dir}, expected the workspace root {ROOT}")
        for key, want in (("Handler", "bootstrap"), ("Runtime", "provided.al2023"), ("Architectures", ["arm64"])):
            if props.get(key) != want:
                errors.append(f"{name}: {key} {props.get(key)!r}, expected {want!r}")
        notes.append(f"{name} -> {binary} ({packages.get(binary)}/src/main.rs)")


@check("environment variables match what the code reads (CONTRACT section 5)")
def check_env(errors, notes, t):
    crate = {"EtlFunction": "duff-lambda-etl", "ServingFunction": "duff-lambda-etl", "ApiFunction": "duff-lambda-api"}
    for name, crate_dir in crate.items():
        env = function_props(t, name).get("Environment", {}).get("Variables", {})
        known = env_vars_read(crate_dir)
        for var in env:
            if var not in known:
                errors.append(f"{name}: sets {var}, which {crate_dir}/src never reads")
        for var in REQUIRED_ENV[name] - set(env):
            errors.append(f"{name}: does not set {var} (CONTRACT section 5)")
        notes.append(f"{name}: {', '.join(sorted(env))}")
    # Values inside what the code accepts.
    params = t["Parameters"]
    engines = set(params["QueryEngine"]["AllowedValues"])
    cfg = read("duff-lambda-api/src/config.rs")
    for e in engines:
        if f'"{e}"' not in cfg:
            errors.append(f"QueryEngine allows {e!r}, which duff-lambda-api/src/config.rs does not accept")
    m = re.search(r'millis\("DUFF_QUERY_TIMEOUT_MS", &v, ([0-9_]+)\.\.=([0-9_]+)\)', cfg)
    api_env = function_props(t, "ApiFunction")["Environment"]["Variables"]
    if m and "DUFF_QUERY_TIMEOUT_MS" in api_env:
        lo, hi = (int(x.replace("_", "")) for x in m.groups())
        v = int(api_env["DUFF_QUERY_TIMEOUT_MS"])
        if not lo <= v <= hi:
            errors.append(f"DUFF_QUERY_TIMEOUT_MS {v} outside {lo}..={hi} accepted by the code")
        timeout_s = function_props(t, "ApiFunction")["Timeout"]
        if v >= timeout_s * 1000:
            errors.append(f"DUFF_QUERY_TIMEOUT_MS {v} is not below the function timeout {timeout_s} s")
    threshold = float(params["RejectThreshold"]["Default"])
    if not 0 <= threshold <= 1:
        errors.append(f"RejectThreshold default {threshold} is not a fraction")


@check("Glue tables are duff-core's tables with its Arrow schemas and the lake's partitions")
def check_tables(errors, notes, t):
    glue = {v["Properties"]["TableInput"]["Name"]: v["Properties"]["TableInput"]
            for v in resources(t, "AWS::Glue::Table").values()}
    written = set(model_table_names())
    if not GLUE_MODELS <= written:
        errors.append(f"Glue model tables {sorted(GLUE_MODELS - written)} are not written by duff_local::Lake::write_models")
    serving = serving_table_names()
    if not serving:
        errors.append("no SERVING_TABLES in duff-api/src/catalog.rs")
    expected = set(lake_table_names()) | {"manifests"} | GLUE_MODELS | set(serving)
    if set(glue) != expected:
        errors.append(f"Glue tables {sorted(glue)}, expected {sorted(expected)} (Table::name + manifests + models + serving)")
    # The serving tables: symlink tables over the manifests duff-lake writes (their columns
    # are compared with tables.sql below, and tables.sql with the Parquet by duff-sql's tests).
    athena = re.search(r'const ATHENA: &str = "([^"]+)";', read("duff-lake/src/serving.rs"))
    if not athena:
        errors.append("duff-lake/src/serving.rs names no ATHENA folder")
    for name in sorted(set(serving) & set(glue)):
        sd = glue[name]["StorageDescriptor"]
        want = "${LakeBucket}/${LakePrefix}/" + (athena.group(1) if athena else "?") + f"/{name}/"
        if want not in str(sd["Location"]):
            errors.append(f"{name}: location {sd['Location']} is not {want}")
        if sd["InputFormat"] != "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat":
            errors.append(f"{name}: InputFormat {sd['InputFormat']} is not SymlinkTextInputFormat")
        if sd["SerdeInfo"]["SerializationLibrary"] != "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe":
            errors.append(f"{name}: not read with the Parquet SerDe")
        if "PartitionKeys" in glue[name]:
            errors.append(f"{name}: a symlink table of the serving state has no partitions")
    for name in sorted(GLUE_MODELS & set(glue)):
        ti = glue[name]
        loc = ti["StorageDescriptor"]["Location"]["Fn::Sub"]
        if loc != f"s3://${{LakeBucket}}/${{LakePrefix}}/models/{name}/":
            errors.append(f"{name}: location {loc} is not the lake's models/{name}/")
        if ti.get("PartitionKeys"):
            errors.append(f"{name}: a model table has no partitions (one object, rebuilt whole)")
    schemas = arrow_schemas()
    partitioned = partitioned_tables_in_docs()
    for name, cols in schemas.items():
        if name not in glue:
            continue
        ti = glue[name]
        got = [(c["Name"], c["Type"]) for c in ti["StorageDescriptor"]["Columns"]]
        if got != cols:
            errors.append(f"{name}: columns {got} differ from duff-core/src/tables.rs {cols}")
        keys = [k["Name"] for k in ti.get("PartitionKeys", [])]
        want_keys = ["ingest_date"] if partitioned.get(name) else []
        if keys != want_keys:
            errors.append(f"{name}: partition keys {keys}, docs/lake.md says {want_keys}")
        loc = ti["StorageDescriptor"]["Location"]["Fn::Sub"]
        if not loc.endswith(f"/{name}/"):
            errors.append(f"{name}: location {loc} does not end in /{name}/")
        p = ti.get("Parameters", {})
        if want_keys:
            tmpl = p.get("storage.location.template", {}).get("Fn::Sub", "")
            if tmpl != loc + "ingest_date=${!ingest_date}/":
                errors.append(f"{name}: storage.location.template {tmpl!r} does not match the location")
            for k, v in (("projection.enabled", "true"), ("projection.ingest_date.type", "date"),
                         ("projection.ingest_date.format", "yyyy-MM-dd")):
                if p.get(k) != v:
                    errors.append(f"{name}: {k} is {p.get(k)!r}, expected {v!r}")
    if "manifests" in glue:
        cols = {c["Name"] for c in glue["manifests"]["StorageDescriptor"]["Columns"]}
        extra = cols - manifest_fields()
        if extra:
            errors.append(f"manifests: columns {sorted(extra)} are not fields of duff_core::Manifest")
        if "JsonSerDe" not in glue["manifests"]["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]:
            errors.append("manifests: not read with a JSON SerDe")
    notes.append(f"{len(glue)} tables: {', '.join(sorted(glue))}")


def ddl_tables(text: str) -> dict[str, dict]:
    """CREATE EXTERNAL TABLE statements of deploy/athena/tables.sql: columns, partition keys,
    table and SerDe properties."""
    out: dict[str, dict] = {}
    for m in re.finditer(r"CREATE EXTERNAL TABLE IF NOT EXISTS (\w+) \((.*?)\n\)(.*?);", text, re.S):
        name, body, rest = m.groups()
        cols = []
        for line in body.splitlines():
            line = line.strip().rstrip(",")
            if line and not line.startswith("--"):
                col, typ = line.split(None, 1)
                cols.append((col, typ.strip()))
        part = re.search(r"PARTITIONED BY \((\w+) (\w+)\)", rest)
        props = dict(re.findall(r"'([^']+)'\s*=\s*'([^']*)'", rest))
        out[name] = {"columns": cols, "partition": [part.group(1)] if part else [], "props": props}
    return out


@check("Glue tables agree with the Athena DDL of deploy/athena/tables.sql")
def check_ddl(errors, notes, t):
    path = DEPLOY / "athena" / "tables.sql"
    if not path.exists():
        notes.append("PENDING: deploy/athena/tables.sql is not there yet")
        return
    ddl = ddl_tables(path.read_text(encoding="utf-8"))
    glue = {v["Properties"]["TableInput"]["Name"]: v["Properties"]["TableInput"]
            for v in resources(t, "AWS::Glue::Table").values()}
    if set(ddl) != set(glue):
        errors.append(f"tables.sql creates {sorted(ddl)}, the template {sorted(glue)}")
    for name in sorted(set(ddl) & set(glue)):
        ti, d = glue[name], ddl[name]
        cols = [(c["Name"], c["Type"]) for c in ti["StorageDescriptor"]["Columns"]]
        if cols != d["columns"]:
            errors.append(f"{name}: template columns {cols} != tables.sql {d['columns']}")
        keys = [k["Name"] for k in ti.get("PartitionKeys", [])]
        if keys != d["partition"]:
            errors.append(f"{name}: partition keys {keys} != tables.sql {d['partition']}")
        params = ti.get("Parameters", {})
        serde = ti["StorageDescriptor"]["SerdeInfo"].get("Parameters", {})
        for k, v in d["props"].items():
            if k.startswith("projection.") and k != "projection.ingest_date.range" and params.get(k) != v:
                errors.append(f"{name}: {k} = {params.get(k)!r}, tables.sql says {v!r}")
            if k == "ignore.malformed.json" and serde.get(k) != v:
                errors.append(f"{name}: SerDe {k} = {serde.get(k)!r}, tables.sql says {v!r}")
    notes.append(f"{len(ddl)} CREATE EXTERNAL TABLE statements compared")


@check("Athena workgroup: enforced, engine v3, per-query cutoff, CloudWatch metrics")
def check_athena(errors, notes, t):
    wgs = resources(t, "AWS::Athena::WorkGroup")
    if len(wgs) != 1:
        errors.append(f"{len(wgs)} workgroups, expected 1")
        return
    cfg = next(iter(wgs.values()))["Properties"]["WorkGroupConfiguration"]
    if cfg.get("EnforceWorkGroupConfiguration") is not True:
        errors.append("EnforceWorkGroupConfiguration is not true")
    if cfg.get("PublishCloudWatchMetricsEnabled") is not True:
        errors.append("PublishCloudWatchMetricsEnabled is not true")
    if "BytesScannedCutoffPerQuery" not in cfg:
        errors.append("no BytesScannedCutoffPerQuery")
    if cfg.get("EngineVersion", {}).get("SelectedEngineVersion") != "Athena engine version 3":
        errors.append(f"engine {cfg.get('EngineVersion')}, expected Athena engine version 3")
    env = function_props(t, "ApiFunction")["Environment"]["Variables"]
    if env.get("DUFF_ATHENA_WORKGROUP") != {"Ref": next(iter(wgs))}:
        errors.append("DUFF_ATHENA_WORKGROUP is not the stack's workgroup")


@check("API role reads exactly the catalog objects the report SQL queries")
def check_api_catalog(errors, notes, t):
    used = report_sql_tables()
    stmts = policy_statements(t["Resources"]["ApiFunctionRole"])
    glue = [s for s in stmts if any(str(a).startswith("glue:") for a in as_list(s["Action"]))]
    arns = " ".join(flatten_strings([s["Resource"] for s in glue]))
    allowed = set(re.findall(r":table/\$\{GlueDatabaseName\}/([a-z_]+)", arns))
    missing = used - allowed
    if missing:
        errors.append(f"the report SQL reads {sorted(missing)}, which ApiFunctionRole may not read")
    unused = allowed - used
    if unused:
        errors.append(f"ApiFunctionRole may read {sorted(unused)}, which no report queries (least privilege)")
    views = used - set(lake_table_names()) - {"manifests"}
    notes.append(f"SQL reads {', '.join(sorted(used))}; views from deploy/athena/: {', '.join(sorted(views)) or 'none'}")


@check("state machine: substitutions, task input and outcomes match duff-lambda-etl")
def check_state_machine(errors, notes, t):
    sm = t["Resources"]["IngestStateMachine"]["Properties"]
    path = DEPLOY / sm["DefinitionUri"]
    text = path.read_text(encoding="utf-8")
    asl = json.loads(text)
    used = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", text))
    given = set(sm.get("DefinitionSubstitutions", {}))
    if used - given:
        errors.append(f"placeholders without a substitution: {sorted(used - given)}")
    if given - used:
        errors.append(f"substitutions never used: {sorted(given - used)}")
    fields = task_input_fields()
    outcomes = record_outcomes()
    actions = etl_actions()
    compared: set[str] = set()
    retried: set[str] = set()
    serving_steps: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("Resource") == "arn:aws:states:::lambda:invoke":
                payload = node["Parameters"].get("Payload")
                if isinstance(payload, dict) and "action" in payload:
                    # A maintenance action: the serving step, on the single writer.
                    if set(payload) != {"action"} or payload["action"] not in actions:
                        errors.append(f"Lambda payload {payload} is not one of the actions {sorted(actions)} "
                                      "duff-lambda-etl/src/event.rs decodes")
                    if node["Parameters"].get("FunctionName") != "${ServingFunctionArn}":
                        errors.append(f"the {payload.get('action')} task does not invoke ${{ServingFunctionArn}}")
                    serving_steps.append(payload["action"])
                else:
                    if isinstance(payload, dict):
                        keys = {k[:-2] if k.endswith(".$") else k for k in payload}
                        if keys - fields:
                            errors.append(f"Lambda payload keys {sorted(keys - fields)} are not TaskInput fields {sorted(fields)}")
                        for need in ("bucket", "key"):
                            if need not in keys:
                                errors.append(f"Lambda payload lacks {need!r}")
                    if node["Parameters"].get("FunctionName") != "${EtlFunctionArn}":
                        errors.append("an ingest Lambda task does not invoke ${EtlFunctionArn}")
                for r in node.get("Retry", []):
                    retried.update(r["ErrorEquals"])
            if "StringEquals" in node and "outcome" in str(node.get("Variable", "")):
                compared.add(node["StringEquals"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(asl)
    if compared - outcomes:
        errors.append(f"outcomes compared {sorted(compared - outcomes)} are not RecordOutcome variants {sorted(outcomes)}")
    unhandled = outcomes - compared - {"error"}
    if unhandled:
        errors.append(f"outcomes {sorted(unhandled)} fall to the error path (only 'error' should)")
    for e in sorted(x for x in retried if x.startswith("Duff.")):
        if f'"{e}"' not in read("duff-lambda-etl/src/error.rs"):
            errors.append(f"retried error type {e} is not produced by duff-lambda-etl/src/error.rs")
    if sm.get("Logging", {}).get("Level") not in ("ALL", "ERROR"):
        errors.append("state machine logging is off")
    if serving_steps != ["update_serving"]:
        errors.append(f"expected one serving step (update_serving), found {serving_steps}")
    subs = sm.get("DefinitionSubstitutions", {})
    if subs.get("ServingFunctionArn") != {"Fn::GetAtt": ["ServingFunction", "Arn"]}:
        errors.append("ServingFunctionArn is not ServingFunction's ARN")
    serving = function_props(t, "ServingFunction")
    if serving.get("ReservedConcurrentExecutions") != 1:
        errors.append("ServingFunction must have a reserved concurrency of 1 (the single writer)")
    binary = t["Resources"]["ServingFunction"].get("Metadata", {}).get("BuildProperties", {}).get("Binary")
    if binary != "duff-lambda-etl":
        errors.append(f"ServingFunction runs {binary!r}, not the ETL binary that handles update_serving")
    notes.append(f"{path.relative_to(ROOT)}: task input {sorted(fields)}; outcomes {sorted(compared)} + error; "
                 f"serving step {serving_steps} on ServingFunction (reserved concurrency 1)")


FANOUT_PREFIX = "_fanout/"


def _identifier_used(name: str, text: str) -> bool:
    """A serde field (`name:`) or a JSON key / literal (`"name"`) in Rust source."""
    return re.search(rf'(?<![A-Za-z0-9_])({re.escape(name)}\s*:(?!:)|"{re.escape(name)}")', text) is not None


@check("big-file fan-out: work prefix lifecycle, lake permissions, concurrency, fields the code uses")
def check_fanout(errors, notes, t):
    lake = t["Resources"]["LakeBucket"]["Properties"]
    rules = lake.get("LifecycleConfiguration", {}).get("Rules", [])
    work = [r for r in rules if r.get("Prefix") == {"Fn::Sub": f"${{LakePrefix}}/{FANOUT_PREFIX}"}
            or (r.get("Filter") or {}).get("Prefix") == {"Fn::Sub": f"${{LakePrefix}}/{FANOUT_PREFIX}"}]
    if not work:
        errors.append(f"LakeBucket: no lifecycle rule on ${{LakePrefix}}/{FANOUT_PREFIX} (work objects of failed executions)")
    for r in work:
        if r.get("Status") != "Enabled" or "ExpirationInDays" not in r:
            errors.append(f"LakeBucket rule {r.get('Id')}: must be Enabled with ExpirationInDays")
        if "NoncurrentVersionExpiration" not in r:
            errors.append(f"LakeBucket rule {r.get('Id')}: the merge's deletes leave noncurrent versions (versioned bucket)")
        else:
            notes.append(f"{r.get('Id')}: {FANOUT_PREFIX} expires after {r['ExpirationInDays']} days, "
                         f"noncurrent after {r['NoncurrentVersionExpiration'].get('NoncurrentDays')}")
    # GetObject + PutObject cover CopyObject inside the lake; DeleteObject the merge's cleanup.
    need = {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
    lake_objects = {"Fn::Sub": "${LakeBucket.Arn}/${LakePrefix}/*"}
    granted: set[str] = set()
    for st in policy_statements(t["Resources"]["EtlFunctionRole"]):
        if st["Effect"] == "Allow" and lake_objects in as_list(st["Resource"]):
            granted |= set(as_list(st["Action"]))
    if need - granted:
        errors.append(f"EtlFunctionRole lacks {sorted(need - granted)} on the lake prefix (fan-out work objects, CopyObject)")
    params = t["Parameters"]
    rc, reserved = params["RangeConcurrency"]["Default"], params["EtlReservedConcurrency"]["Default"]
    if rc >= reserved:
        errors.append(f"RangeConcurrency {rc} >= EtlReservedConcurrency {reserved}: one big file would throttle every other ingest")
    rb = params["RangeBytes"]
    if not rb.get("MinValue", 0) <= rb["Default"] <= rb.get("MaxValue", rb["Default"]):
        errors.append(f"RangeBytes default {rb['Default']} outside its MinValue/MaxValue")

    # The code side: the names the ASL sends in `range` and reads from the answers.
    sm = t["Resources"]["IngestStateMachine"]["Properties"]
    asl = json.loads((DEPLOY / sm["DefinitionUri"]).read_text(encoding="utf-8"))
    sent: set[str] = set()
    read_back: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            rng = (node.get("Parameters") or {}).get("Payload", {})
            if isinstance(rng, dict) and isinstance(rng.get("range"), dict):
                sent.update(k[:-2] if k.endswith(".$") else k for k in rng["range"])
            for k, v in node.items():
                if isinstance(v, str):
                    for m in re.findall(r"\$\.(?:etl\.response|Payload)\.([a-z_]+)(?:\.([a-z_]+))?", v):
                        read_back.update(x for x in m if x)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(asl)
    read_back -= {"records", "outcome"}  # the whole-file answer, checked above
    crates = ["duff-lambda-etl/src", "duff-lake/src"]  # the task decoding, the answers, the lake's plan
    code = "\n".join(f.read_text(encoding="utf-8") for c in crates for f in sorted((ROOT / c).rglob("*.rs")))
    for name in sorted(sent | read_back):
        if not _identifier_used(name, code):
            errors.append(f"the ASL uses {name!r} (range field or answer field), which {' and '.join(crates)} never name")
    homes = ["duff-lambda-etl/src", "duff-lake/src", "duff-core/src"]
    if not any(FANOUT_PREFIX.rstrip("/") in f.read_text(encoding="utf-8")
               for h in homes for f in (ROOT / h).rglob("*.rs")):
        errors.append(f"no crate names the work prefix {FANOUT_PREFIX!r} the lifecycle rule expires")
    notes.append(f"range fields {sorted(sent)} and answer fields {sorted(read_back)} named in {', '.join(crates)}")


@check("EventBridge rule: raw bucket, prefix incoming/, suffix .csv, starts the state machine")
def check_rule(errors, notes, t):
    rule = t["Resources"]["ObjectCreatedRule"]["Properties"]
    pat = rule["EventPattern"]
    if pat.get("source") != ["aws.s3"] or pat.get("detail-type") != ["Object Created"]:
        errors.append("the rule does not match S3 Object Created events")
    if pat["detail"]["bucket"]["name"] != [{"Ref": "RawBucket"}]:
        errors.append("the rule does not match the raw bucket")
    for m in pat["detail"]["object"]["key"]:
        w = m.get("wildcard", "")
        if not (w.startswith("incoming/") and w.lower().endswith(".csv")):
            errors.append(f"key matcher {m} is not incoming/ ... .csv")
    if rule["Targets"][0]["Arn"] != {"Ref": "IngestStateMachine"}:
        errors.append("the rule does not target the state machine")
    raw = t["Resources"]["RawBucket"]["Properties"]
    if raw.get("NotificationConfiguration", {}).get("EventBridgeConfiguration", {}).get("EventBridgeEnabled") is not True:
        errors.append("the raw bucket does not send events to EventBridge")
    if raw.get("VersioningConfiguration", {}).get("Status") != "Enabled":
        errors.append("the raw bucket is not versioned")


@check("schedules: the model rebuild, the serving catch-up and the vacuum invoke their function with an action the code handles")
def check_models_schedule(errors, notes, t):
    scheds = resources(t, "AWS::Scheduler::Schedule")
    want = {"RefreshModelsSchedule": ("EtlFunction", "refresh_models"),
            "ServingCatchUpSchedule": ("ServingFunction", "update_serving"),
            "VacuumScheduleRule": ("EtlFunction", "vacuum")}
    if set(scheds) != set(want):
        errors.append(f"schedules {sorted(scheds)}, expected {sorted(want)}")
        return
    actions = etl_actions()
    for name, (function, expected) in want.items():
        sched = scheds[name]
        target = sched["Properties"]["Target"]
        if target.get("Arn") != {"Fn::GetAtt": [function, "Arn"]}:
            errors.append(f"{name} does not target {function}")
        action = json.loads(target.get("Input", "{}")).get("action")
        if action != expected or action not in actions:
            errors.append(f"{name} sends action {action!r}, expected {expected!r} among {sorted(actions)} "
                          "(duff-lambda-etl/src/event.rs)")
        role = target.get("RoleArn", {}).get("Fn::GetAtt", [None])[0]
        stmts = policy_statements(t["Resources"][role]) if role in t["Resources"] else []
        invoke = [s for s in stmts if "lambda:InvokeFunction" in as_list(s["Action"])]
        if [s["Resource"] for s in invoke] != [{"Fn::GetAtt": [function, "Arn"]}]:
            errors.append(f"{name}'s role may invoke {[s['Resource'] for s in invoke]}, expected {function} only")
        if "DeadLetterConfig" not in target:
            errors.append(f"{name} has no dead-letter queue")
        notes.append(f"{name}: {action} on {sched['Properties']['ScheduleExpression']}")


@check("buckets: encrypted, private, TLS-only, abort incomplete multipart uploads")
def check_buckets(errors, notes, t):
    policies = {v["Properties"]["Bucket"]["Ref"]: v["Properties"]["PolicyDocument"]
                for v in resources(t, "AWS::S3::BucketPolicy").values()}
    for name, b in resources(t, "AWS::S3::Bucket").items():
        p = b["Properties"]
        if not p.get("BucketEncryption"):
            errors.append(f"{name}: no default encryption")
        pab = p.get("PublicAccessBlockConfiguration", {})
        if not all(pab.get(k) is True for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")):
            errors.append(f"{name}: Block Public Access is not fully on")
        rules = p.get("LifecycleConfiguration", {}).get("Rules", [])
        if not any("AbortIncompleteMultipartUpload" in r for r in rules):
            errors.append(f"{name}: no AbortIncompleteMultipartUpload rule")
        doc = policies.get(name)
        tls = doc and any(s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
                          for s in doc["Statement"])
        if not tls:
            errors.append(f"{name}: no TLS-only bucket policy")
    results = t["Resources"]["AthenaResultsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    if not any("ExpirationInDays" in r for r in results):
        errors.append("AthenaResultsBucket: results do not expire")


@check("IAM: no wildcard action; every '*' resource is commented")
def check_iam(errors, notes, t):
    docs = []
    for name, r in t["Resources"].items():
        props = r.get("Properties", {})
        for p in props.get("Policies", []) or []:
            docs.append((name, p["PolicyDocument"]))
        for key in ("PolicyDocument", "KeyPolicy"):
            if isinstance(props.get(key), dict):
                docs.append((name, props[key]))
    for name, doc in docs:
        for s in doc["Statement"]:
            for a in as_list(s.get("Action", [])):
                if isinstance(a, str) and (a == "*" or a.endswith(":*")) and s["Effect"] == "Allow":
                    errors.append(f"{name}: Allow with wildcard action {a!r}")
    # "*" resources: the statement must be introduced by a comment saying why.
    lines = TEMPLATE.read_text(encoding="utf-8").splitlines()
    stars = 0
    for i, line in enumerate(lines):
        if re.match(r'^\s*Resource: "\*"\s*$', line):
            stars += 1
            j = i
            while j > 0 and not re.match(r"^\s*- (Sid|Effect):", lines[j]):
                j -= 1
            if not (j > 0 and lines[j - 1].strip().startswith("#")):
                errors.append(f"template.yaml:{i + 1}: Resource \"*\" without a comment before its statement")
    notes.append(f"{len(docs)} policy documents; {stars} '*' resources, each commented")


OPENAPI_REQUIREMENTS = "docs/deploy.md, 'The OpenAPI document'"


@check("OpenAPI document: duff-api's routes through ApiFunction, auth per ApiAuth")
def check_openapi(errors, notes, t):
    path = DEPLOY / "openapi.yaml"
    if not path.exists():
        notes.append(f"PENDING: deploy/openapi.yaml is not there yet; the template includes it (requirements: {OPENAPI_REQUIREMENTS})")
        return
    doc = load_yaml(path)
    paths = doc.get("paths", {})
    for route in api_routes():
        op = (paths.get(route) or {}).get("get")
        if op is None:
            errors.append(f"GET {route} (duff-api ROUTES) is not in deploy/openapi.yaml")
            continue
        integ = op.get("x-amazon-apigateway-integration")
        if not integ:
            errors.append(f"GET {route}: no x-amazon-apigateway-integration")
            continue
        if integ.get("type") != "aws_proxy" or integ.get("httpMethod") != "POST":
            errors.append(f"GET {route}: integration must be aws_proxy with httpMethod POST")
        if "ApiFunction" not in json.dumps(integ.get("uri")):
            errors.append(f"GET {route}: integration uri does not reference ApiFunction")
    extra = set(paths) - set(api_routes())
    for p in sorted(extra):
        if set(paths[p]) - {"options", "parameters", "summary", "description"}:
            errors.append(f"{p} is in deploy/openapi.yaml but not in duff-api ROUTES")
    # Intrinsic references inside the included document must resolve in this template.
    names = set(t["Resources"]) | set(t["Parameters"]) | {"AWS::Region", "AWS::AccountId", "AWS::Partition",
                                                           "AWS::StackName", "AWS::URLSuffix"}
    text = json.dumps(doc)
    for ref in set(re.findall(r"\$\{([A-Za-z0-9:]+)(?:\.[A-Za-z]+)?\}", text)):
        if ref not in names:
            errors.append(f"openapi.yaml refers to ${{{ref}}}, which the template does not define")
    conditions = set(re.findall(r'"Fn::If": \["([A-Za-z0-9]+)"', text))
    for c in conditions - set(t.get("Conditions", {})):
        errors.append(f"openapi.yaml uses condition {c}, which the template does not define")
    if "UseIamAuth" not in conditions and "UseApiKeyAuth" not in conditions:
        errors.append("openapi.yaml does not select its security by the ApiAuth parameter (Fn::If UseIamAuth)")
    if not any("options" in (v or {}) for v in paths.values()):
        notes.append("no OPTIONS methods: browsers' CORS preflight will fail (see docs/deploy.md)")
    notes.append(f"{len(paths)} paths")


def main() -> int:
    t = load_yaml(TEMPLATE)
    for fn in (check_functions, check_env, check_tables, check_ddl, check_athena, check_api_catalog,
               check_state_machine, check_fanout, check_rule, check_models_schedule, check_buckets, check_iam, check_openapi):
        fn(t)
    failed = 0
    for name, errors, notes in RESULTS:
        print(f"{'FAIL' if errors else 'ok  '} {name}")
        for e in errors:
            print(f"       - {e}")
        for n in notes:
            print(f"       . {n}")
        failed += bool(errors)
    print(f"{len(RESULTS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
