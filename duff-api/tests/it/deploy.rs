//! The deploy/ artefacts agree with the code: the Athena DDL with duff-core's schemas, the
//! Athena views with the catalog, the OpenAPI paths with the router. (That the views' SQL
//! answers like duff-core is checked by duff-sql's tests, with DataFusion.)
//!
//! `DUFF_BLESS=1 cargo test -p duff-api --test it deploy` rewrites deploy/athena/views.sql
//! from the catalog.

use crate::common::*;
use arrow_schema::{DataType, SchemaRef};
use duff_api::catalog::views;
use duff_api::{Dialect, ROUTES, Report};
use duff_core::serving::tables as serving;
use duff_testkit::repo;
use std::collections::BTreeMap;

fn athena_type(t: &DataType) -> String {
    match t {
        DataType::Int64 => "bigint".into(),
        DataType::Int32 => "int".into(),
        DataType::Utf8 => "string".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Decimal128(p, s) => format!("decimal({p},{s})"),
        DataType::Timestamp(_, _) => "timestamp".into(),
        other => panic!("no Athena type for {other}"),
    }
}

/// `CREATE EXTERNAL TABLE` statements of tables.sql: table -> [(column, type)], partition columns last.
fn ddl_tables() -> BTreeMap<String, Vec<(String, String)>> {
    let text = std::fs::read_to_string(repo().join("deploy/athena/tables.sql")).unwrap();
    let mut out = BTreeMap::new();
    let mut current: Option<(String, Vec<(String, String)>)> = None;
    let mut in_columns = false;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("CREATE EXTERNAL TABLE IF NOT EXISTS ") {
            current = Some((rest.trim_end_matches(" (").to_owned(), Vec::new()));
            in_columns = true;
        } else if line == ")" {
            in_columns = false;
        } else if let Some(part) = line.strip_prefix("PARTITIONED BY (").and_then(|p| p.strip_suffix(')')) {
            let (c, t) = part.split_once(' ').unwrap();
            current.as_mut().unwrap().1.push((c.into(), t.into()));
        } else if in_columns && !line.is_empty() && !line.starts_with("--") {
            let (c, t) = line.trim_end_matches(',').split_once(' ').unwrap();
            current.as_mut().unwrap().1.push((c.into(), t.trim().into()));
        }
        if line.ends_with(';')
            && let Some((name, cols)) = current.take()
        {
            out.insert(name, cols);
        }
    }
    out
}

fn columns_of(schema: &SchemaRef) -> Vec<(String, String)> {
    schema.fields().iter().map(|f| (f.name().clone(), athena_type(f.data_type()))).collect()
}

#[test]
fn athena_tables_match_the_core_schemas() {
    let ddl = ddl_tables();
    let part = |mut v: Vec<(String, String)>| {
        v.push(("ingest_date".into(), "string".into()));
        v
    };
    let expected: BTreeMap<String, Vec<(String, String)>> = [
        ("fact_order_line", part(columns_of(&duff_core::tables::fact_order_line_schema()))),
        ("quarantine", part(columns_of(&duff_core::tables::quarantine_schema()))),
        ("dim_client", part(columns_of(&duff_core::tables::dim_client_schema()))),
        ("dim_product", part(columns_of(&duff_core::tables::dim_product_schema()))),
        ("dim_channel", columns_of(&duff_core::tables::dim_channel_batch().unwrap().schema())),
        ("dim_status", columns_of(&duff_core::tables::dim_status_batch().unwrap().schema())),
        // The serving state's tables (symlink tables over the newest generation's objects;
        // duff-sql's tests check them against the Parquet the lake writes).
        ("serving_lines", columns_of(&serving::lines_schema())),
        ("serving_cells_product", columns_of(&serving::cells_product_schema())),
        ("serving_cells_client", columns_of(&serving::cells_client_schema())),
        ("serving_cells_total", columns_of(&serving::cells_total_schema())),
        ("serving_dim_client_current", columns_of(&serving::dim_client_current_schema())),
        ("serving_dim_product_current", columns_of(&serving::dim_product_current_schema())),
        ("serving_files", columns_of(&serving::files_schema())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (table, cols) in &expected {
        assert_eq!(ddl.get(table), Some(cols), "{table}");
    }
    // The Rust-built models (models/<name>/), from the builders' own batches.
    let state = duff_core::CurrentState::new();
    let history = duff_core::StatusHistory::new();
    let dims = duff_core::models::Dimensions::new();
    let models: BTreeMap<&str, SchemaRef> = [
        ("dim_client_scd2", dims.client_batch().unwrap().schema()),
        ("dim_product_scd2", dims.product_batch().unwrap().schema()),
        ("fact_order_status_event", history.to_batch().unwrap().schema()),
        ("fact_order_lifecycle", duff_core::models::lifecycle_batch(&state, &history).unwrap().schema()),
    ]
    .into_iter()
    .collect();
    for (table, schema) in &models {
        assert_eq!(ddl.get(*table), Some(&columns_of(schema)), "{table}");
    }
    let text = std::fs::read_to_string(repo().join("deploy/athena/tables.sql")).unwrap();
    for table in models.keys() {
        assert!(text.contains(&format!("LOCATION 's3://LAKE_BUCKET/LAKE_PREFIX/models/{table}/'")), "{table}");
    }
    // The manifests table: every top-level field of a manifest but the two nested lists.
    let (dir, lake) = lake_with(&["orders.csv"]);
    let m = &lake.manifests().unwrap()[0];
    let json = serde_json::to_value(m).unwrap();
    let mut keys: Vec<String> =
        json.as_object().unwrap().keys().filter(|k| *k != "outputs" && *k != "sample_problems").cloned().collect();
    let mut declared: Vec<String> = ddl["manifests"].iter().map(|(c, _)| c.clone()).collect();
    keys.sort();
    declared.sort();
    assert_eq!(declared, keys);
    assert_eq!(ddl.len(), expected.len() + models.len() + 1, "a table of tables.sql is not checked");
    drop(dir);
}

/// The views, rendered from the catalog (`duff_api::catalog::views`).
fn views_sql() -> String {
    let mut s = String::from(
        "-- duff-etl views for Athena, generated from duff-api's catalog (duff-api/src/catalog.rs):
-- `DUFF_BLESS=1 cargo test -p duff-api --test it deploy` rewrites this file, and the tests
-- fail when it differs from the SQL the API runs. Create the tables first (tables.sql).
--
-- order_line_current and the report views read the serving state's tables (serving_*, the
-- newest generation's objects through their symlink manifests); order_status_history reads
-- the history (fact_order_line, manifests). The report views are the API's reports without
-- filters, for analysts.
",
    );
    for v in views() {
        assert!(v.query.params().is_empty(), "{}", v.name);
        s.push_str(&format!(
            "\n-- {}\nCREATE OR REPLACE VIEW {} AS\n{};\n",
            v.comment,
            v.name,
            v.query.sql_text(Dialect::Athena)
        ));
    }
    s
}

#[test]
fn athena_views_are_the_catalog_sql() {
    let path = repo().join("deploy/athena/views.sql");
    let want = views_sql();
    if std::env::var_os("DUFF_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(have == want, "deploy/athena/views.sql is stale: run DUFF_BLESS=1 cargo test -p duff-api --test it deploy");
}

/// `paths:` keys of deploy/openapi.yaml, and for each the query parameter names.
fn openapi_paths() -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(repo().join("deploy/openapi.yaml")).unwrap();
    let mut out = BTreeMap::new();
    let mut in_paths = false;
    let mut current: Option<String> = None;
    let mut in_query_param = false;
    for line in text.lines() {
        if line == "paths:" {
            in_paths = true;
            continue;
        }
        if in_paths && !line.starts_with(' ') && !line.is_empty() {
            in_paths = false;
            current = None;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line.strip_prefix("  /").and_then(|p| p.strip_suffix(':')) {
            let p = format!("/{p}");
            out.insert(p.clone(), Vec::new());
            current = Some(p);
            continue;
        }
        let t = line.trim();
        if t.starts_with("- name:") || t.starts_with("- $ref:") {
            in_query_param = false;
        }
        if let Some(r) = t.strip_prefix("- $ref: '#/components/parameters/").and_then(|r| r.strip_suffix('\'')) {
            out.get_mut(current.as_ref().unwrap()).unwrap().push(format!("ref:{r}"));
        }
        if let Some(n) = t.strip_prefix("- name: ") {
            out.get_mut(current.as_ref().unwrap()).unwrap().push(n.to_owned());
            in_query_param = true;
        }
        let _ = in_query_param;
    }
    out
}

#[test]
fn openapi_paths_are_the_routes() {
    let paths = openapi_paths();
    let mut documented: Vec<&str> = paths.keys().map(String::as_str).collect();
    let mut routes = ROUTES.to_vec();
    documented.sort_unstable();
    routes.sort_unstable();
    assert_eq!(documented, routes);
    // Every report documents exactly its filters.
    for r in Report::ALL {
        let mut want: Vec<String> = r.filters().iter().map(|f| format!("ref:{}", f.name())).collect();
        let mut have = paths[&format!("/reports/{}", r.name())].clone();
        want.sort();
        have.sort();
        assert_eq!(have, want, "{}", r.name());
    }
    let mut have = paths["/clients/{client_id}/orders"].clone();
    have.sort();
    assert_eq!(have, ["ref:channel", "ref:client_id_path", "ref:limit", "ref:next_token", "ref:status"]);
}
