//! The analytics models rebuilt from the serving state, one range of order ids at a time,
//! equal the models built from every published file in memory.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly")]

use chrono::{TimeZone, Utc};
use duff_core::IngestConfig;
use duff_lake::{LocalLake, ServingConfig};
use duff_testkit::sample;
use std::collections::BTreeMap;
use std::path::Path;

/// Every model table, decoded and concatenated.
fn models(root: &Path) -> BTreeMap<String, duff_core::arrow_array::RecordBatch> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(root.join("models")).unwrap() {
        let e = e.unwrap();
        if !e.file_type().unwrap().is_dir() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let bytes = std::fs::read(e.path().join(format!("{name}.parquet"))).unwrap();
        let batches = duff_core::read_parquet(bytes).unwrap();
        let schema = batches[0].schema();
        out.insert(name, arrow_select::concat::concat_batches(&schema, &batches).unwrap());
    }
    out
}

#[test]
fn models_from_the_serving_state_equal_models_from_every_file() {
    let dir = tempfile::tempdir().unwrap();
    // Ranges of 40 lines: the history and the lifecycle are built in many passes.
    let cfg = ServingConfig { model_range_lines: 40, ..ServingConfig::default() };
    let lake = LocalLake::open(dir.path()).unwrap().with_serving(cfg);
    let generated = dir.path().join("gen.csv");
    let mut out = std::fs::File::create(&generated).unwrap();
    let gen_cfg = duff_testkit::generate::Config { rows: 2000, bad_frac: 0.01, ..Default::default() };
    duff_testkit::generate::write_orders(&mut out, &gen_cfg).unwrap();
    drop(out);
    let update = dir.path().join("update.csv");
    let mut out = std::fs::File::create(&update).unwrap();
    let upd_cfg = duff_testkit::generate::Config { rows: 500, advanced: true, ..Default::default() };
    duff_testkit::generate::write_orders(&mut out, &upd_cfg).unwrap();
    drop(out);
    let cfg = IngestConfig { reject_threshold_ppm: 1_000_000, ..IngestConfig::default() };
    let t = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
    for (i, path) in [generated, sample("day1.csv"), sample("day2.csv"), update].iter().enumerate() {
        lake.ingest_path(path, &cfg, t + chrono::Duration::seconds(i as i64)).unwrap();
    }
    let bounded = lake.refresh_models().unwrap();
    let from_serving = models(dir.path());
    let in_memory = lake.write_models(&lake.load(true).unwrap()).unwrap();
    let from_files = models(dir.path());
    assert_eq!(bounded, in_memory, "the same tables and row counts, in the same order");
    assert_eq!(from_serving.keys().collect::<Vec<_>>(), from_files.keys().collect::<Vec<_>>());
    for (name, batch) in &from_files {
        assert_eq!(&from_serving[name], batch, "{name}");
    }
    assert!(from_files["fact_order_status_event"].num_rows() > 2000);
}
