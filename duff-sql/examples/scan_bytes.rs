//! The bytes each Athena view of the lake reads: before (the history: every published
//! version in `fact_order_line`, plus `manifests`, which every report read through the old
//! history-ranking `order_line_current`) and now (the objects of the serving state's newest
//! generation that the view's tables name). Sizes from the Parquet objects' metadata (the
//! compressed column chunks) and from the objects themselves.
//!
//! ```text
//! cargo run --release -p duff-sql --example scan_bytes -- <lake folder>
//! ```
//!
//! Athena bills the bytes it scans; with column pruning it reads fewer than the objects'
//! sizes, so both figures are upper bounds of a scan, and compare like with like.

use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
use duff_api::Dialect;
use duff_api::catalog::{CURRENT_STATE, SERVING_TABLES, View, views};
use duff_core::{Outcome, Table};
use duff_lake::LocalLake;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;

type BoxError = Box<dyn std::error::Error>;

/// What a set of objects weighs.
#[derive(Debug, Default, Clone, Copy)]
struct Weight {
    objects: u64,
    rows: u64,
    /// The objects' sizes.
    bytes: u64,
    /// The compressed column chunks (Parquet metadata): what a scan of every column reads.
    column_bytes: u64,
}

/// Compressed bytes per column, over a set of objects.
type Columns = BTreeMap<String, u64>;

impl Weight {
    fn add(&mut self, o: Weight) {
        self.objects += o.objects;
        self.rows += o.rows;
        self.bytes += o.bytes;
        self.column_bytes += o.column_bytes;
    }
}

fn parquet(path: &Path, columns: &mut Columns) -> Result<Weight, BoxError> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let bytes = file.metadata()?.len();
    let reader = SerializedFileReader::new(file).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut w = Weight { objects: 1, bytes, ..Weight::default() };
    for rg in reader.metadata().row_groups() {
        w.rows += u64::try_from(rg.num_rows()).unwrap_or(0);
        w.column_bytes += u64::try_from(rg.compressed_size()).unwrap_or(0);
        for c in rg.columns() {
            *columns.entry(c.column_path().string()).or_default() += u64::try_from(c.compressed_size()).unwrap_or(0);
        }
    }
    Ok(w)
}

fn objects(root: &Path, keys: &[&str], columns: &mut Columns) -> Result<Weight, BoxError> {
    let mut w = Weight::default();
    for k in keys {
        w.add(parquet(&root.join(k), columns)?);
    }
    Ok(w)
}

/// The relations a view's SQL reads (after `FROM` or `JOIN`), views expanded to the tables
/// they read; `order_line_current` is `serving_lines`.
fn tables_read(v: &View, all: &[View]) -> BTreeSet<String> {
    let sql = v.query.sql_text(Dialect::Athena);
    let words: Vec<&str> =
        sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).collect();
    let mut out = BTreeSet::new();
    for pair in words.windows(2) {
        if !(pair[0].eq_ignore_ascii_case("FROM") || pair[0].eq_ignore_ascii_case("JOIN")) {
            continue;
        }
        let name = pair[1];
        if let Some(inner) = all.iter().find(|x| x.name == name && x.name != v.name) {
            out.extend(tables_read(inner, all));
        } else if name == CURRENT_STATE {
            out.insert("serving_lines".to_owned());
        } else if name.starts_with("serving_") || name == "fact_order_line" || name == "manifests" {
            out.insert(name.to_owned());
        }
    }
    out
}

fn mb(b: u64) -> String {
    if b < 1_000_000 { format!("{:.1} KB", b as f64 / 1e3) } else { format!("{:.1} MB", b as f64 / 1e6) }
}

fn run(root: &Path) -> Result<(), BoxError> {
    let lake = LocalLake::open(root)?;
    // Before: the history the reports ranked (every published version) and the manifests.
    let mut tables: BTreeMap<String, Weight> = BTreeMap::new();
    let ms = lake.manifests()?;
    let facts: Vec<&str> = ms
        .iter()
        .filter(|m| m.outcome == Outcome::Published)
        .flat_map(|m| m.outputs.iter().filter(|o| o.table == Table::FactOrderLine).map(|o| o.key.as_str()))
        .collect();
    let mut fact_columns = Columns::new();
    tables.insert("fact_order_line".into(), objects(root, &facts, &mut fact_columns)?);
    let mut manifests = Weight::default();
    for entry in std::fs::read_dir(root.join(duff_core::lake::MANIFESTS))? {
        let entry = entry?;
        manifests.add(Weight { objects: 1, bytes: entry.metadata()?.len(), ..Weight::default() });
    }
    manifests.column_bytes = manifests.bytes;
    tables.insert("manifests".into(), manifests);
    // Now: the newest generation's objects.
    let g = lake.serving_head()?.ok_or("the lake has no serving state: run the pipeline (it updates it)")?;
    let mut line_columns = Columns::new();
    for (name, table) in SERVING_TABLES {
        let keys: Vec<&str> = if table == "lines" {
            g.runs.iter().map(|r| r.by_key.as_str()).collect()
        } else {
            vec![g.tables.get(table).ok_or_else(|| format!("generation {} has no {table}", g.generation))?.as_str()]
        };
        let mut columns = Columns::new();
        tables.insert(name.to_owned(), objects(root, &keys, &mut columns)?);
        if table == "lines" {
            line_columns = columns;
        }
    }
    println!(
        "lake {}: {} published files, generation {} ({} runs, {} current lines)\n",
        root.display(),
        facts.len(),
        g.generation,
        g.runs.len(),
        g.lines
    );
    println!("{:<28} {:>8} {:>12} {:>12} {:>14}", "table", "objects", "rows", "bytes", "column chunks");
    for (name, w) in &tables {
        println!("{name:<28} {:>8} {:>12} {:>12} {:>14}", w.objects, w.rows, mb(w.bytes), mb(w.column_bytes));
    }
    let before = {
        let mut w = tables["fact_order_line"];
        w.add(tables["manifests"]);
        w
    };
    println!(
        "\nper view: before = fact_order_line + manifests (the history-ranking order_line_current every report read);\nnow = the serving tables the view reads\n"
    );
    println!("{:<30} {:>12} {:>12} {:>9}  tables now", "view", "before", "now", "ratio");
    let all = views();
    let mut lines = vec![(
        "(one client's report)".to_owned(),
        ["serving_lines", "serving_dim_client_current"].map(String::from).into(),
    )];
    lines.extend(all.iter().map(|v| (v.name.clone(), tables_read(v, &all))));
    for (name, read) in lines {
        let mut now = Weight::default();
        for t in &read {
            now.add(tables.get(t).copied().unwrap_or_default());
        }
        let history = read.contains("fact_order_line");
        let was = if history { now.bytes } else { before.bytes };
        println!(
            "{name:<30} {:>12} {:>12} {:>8.1}x  {}",
            mb(was),
            mb(now.bytes),
            was as f64 / (now.bytes.max(1)) as f64,
            read.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    // Athena reads only the columns a query names: the two line tables column by column.
    println!("\ncompressed bytes per column (Athena reads the columns a query names)\n");
    println!("{:<22} {:>16} {:>16}", "column", "fact_order_line", "serving_lines");
    let names: BTreeSet<&String> = fact_columns.keys().chain(line_columns.keys()).collect();
    for c in names {
        let cell = |m: &Columns| m.get(c).map_or_else(|| "-".to_owned(), |b| mb(*b));
        println!("{c:<22} {:>16} {:>16}", cell(&fact_columns), cell(&line_columns));
    }
    Ok(())
}

fn main() -> ExitCode {
    let Some(root) = std::env::args().nth(1) else {
        eprintln!("usage: scan_bytes <lake folder>");
        return ExitCode::from(2);
    };
    match run(Path::new(&root)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scan_bytes: {e}");
            ExitCode::FAILURE
        }
    }
}
