//! The Athena tables of the serving state (`deploy/athena/tables.sql`, `serving_*`) against
//! what the lake really writes: each table's symlink manifest lists exactly the newest
//! generation's objects of that table, and the columns Athena declares are the columns of
//! those Parquet objects, typed as Athena reads their Parquet types (the file's own schema,
//! not the Arrow schema embedded in it).

use crate::common::*;
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::parquet::arrow::parquet_to_arrow_schema;
use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
use duff_api::catalog::SERVING_TABLES;
use duff_testkit::repo;
use std::collections::BTreeMap;
use std::path::Path;

/// A serving table of tables.sql: its columns and its location under the lake.
struct Ddl {
    columns: Vec<(String, String)>,
    location: String,
    text: String,
}

/// The `CREATE EXTERNAL TABLE` statements of tables.sql whose name starts with `serving_`.
fn serving_ddl() -> BTreeMap<String, Ddl> {
    let text = std::fs::read_to_string(repo().join("deploy/athena/tables.sql")).unwrap();
    let mut out = BTreeMap::new();
    for statement in text.split(';') {
        let Some(start) = statement.find("CREATE EXTERNAL TABLE IF NOT EXISTS serving_") else { continue };
        let statement = &statement[start..];
        let (head, rest) = statement.split_once(" (\n").unwrap();
        let name = head.trim_start_matches("CREATE EXTERNAL TABLE IF NOT EXISTS ").to_owned();
        let (body, tail) = rest.split_once("\n)").unwrap();
        let columns = body
            .lines()
            .map(|l| {
                let (c, t) = l.trim().trim_end_matches(',').split_once(' ').unwrap();
                (c.to_owned(), t.trim().to_owned())
            })
            .collect();
        let location = tail
            .split("LOCATION 's3://LAKE_BUCKET/LAKE_PREFIX/")
            .nth(1)
            .and_then(|l| l.split('\'').next())
            .unwrap_or_default()
            .to_owned();
        out.insert(name, Ddl { columns, location, text: tail.to_owned() });
    }
    out
}

/// How Athena types a column of Parquet type `t` (as the Parquet schema alone gives it).
fn athena_type(t: &DataType) -> String {
    match t {
        DataType::Int64 => "bigint".into(),
        DataType::Utf8 | DataType::LargeUtf8 => "string".into(),
        DataType::Decimal128(p, s) => format!("decimal({p},{s})"),
        DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, Some(_)) => "timestamp".into(),
        other => panic!("a serving table has a Parquet type Athena is not declared to read: {other}"),
    }
}

/// The Parquet schema of the object at `path`, without the Arrow schema the writer embeds.
fn parquet_schema(path: &Path) -> Schema {
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    parquet_to_arrow_schema(reader.metadata().file_metadata().schema_descr(), None).unwrap()
}

#[test]
fn serving_tables_in_the_athena_ddl_are_the_parquet_the_lake_writes() {
    let (dir, lake) = lake_with(&["day1.csv", "day2.csv", "orders.csv"]);
    let g = lake.serving_head().unwrap().unwrap();
    let ddl = serving_ddl();
    let names: Vec<&str> = SERVING_TABLES.iter().map(|(n, _)| *n).collect();
    assert_eq!(ddl.keys().map(String::as_str).collect::<Vec<_>>(), {
        let mut n = names.clone();
        n.sort_unstable();
        n
    });
    for (name, table) in SERVING_TABLES {
        let d = &ddl[name];
        assert_eq!(d.location, format!("serving/_athena/{name}/"), "{name}");
        assert!(d.text.contains("'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'"), "{name}");
        assert!(d.text.contains("'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'"), "{name}");
        // The objects of the generation for this table, as its symlink manifest lists them.
        let keys: Vec<&str> = if table == "lines" {
            g.runs.iter().map(|r| r.by_key.as_str()).collect()
        } else {
            vec![g.tables[table].as_str()]
        };
        let manifest = std::fs::read_to_string(dir.path().join(&d.location).join("manifest")).unwrap();
        let listed: Vec<&str> = manifest.lines().collect();
        let want: Vec<String> = keys.iter().map(|k| dir.path().join(k).display().to_string()).collect();
        assert_eq!(listed, want, "{name}: the symlink manifest");
        for key in keys {
            let schema = parquet_schema(&dir.path().join(key));
            let have: Vec<(String, String)> =
                schema.fields().iter().map(|f| (f.name().clone(), athena_type(f.data_type()))).collect();
            assert_eq!(d.columns, have, "{name}: tables.sql against {key}");
        }
    }
}
