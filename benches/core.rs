//! Criterion benchmarks of the core stages, over a deterministic generated file
//! (200,000 rows, 0.1 % malformed), with `Throughput::Bytes` of the CSV input.
//!
//! ```text
//! cargo bench -p duff-local --bench core
//! ```

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use duff_core::reports::{self, ReportFilter};
use duff_core::serving::tables;
use duff_core::{
    CollectSink, CurrentState, FileId, FileMeta, IngestConfig, ParquetSink, Result, Table, TableSink, ingest_bytes,
};
use std::hint::black_box;

const ROWS: u64 = 200_000;

fn data() -> Vec<u8> {
    let cfg = duff_testkit::generate::Config { rows: ROWS, bad_frac: 0.001, ..Default::default() };
    let mut out = Vec::new();
    if let Err(e) = duff_testkit::generate::write_orders(&mut out, &cfg) {
        panic!("generating the fixture: {e}");
    }
    out
}

/// Drops every batch: measures reading, validation and Arrow building only.
struct Discard;

impl TableSink for Discard {
    fn write_batch(&mut self, _: Table, batch: duff_core::arrow_array::RecordBatch) -> Result<()> {
        black_box(batch);
        Ok(())
    }
}

fn meta(csv: &[u8]) -> FileMeta {
    FileMeta { file_id: FileId::of_bytes(csv), source: "bench.csv".into(), ingested_at_micros: 1_795_000_000_000_000 }
}

/// A first fold: the new versions of one file's fact batches folded into an empty state;
/// its file table, the lines it changed (every current line) and the cube.
fn first_fold(
    meta: &FileMeta,
    facts: &[duff_core::arrow_array::RecordBatch],
) -> Result<(duff_core::serving::FileTable, Vec<duff_core::serving::Line>, duff_core::serving::Cube)> {
    let mut files = duff_core::serving::FileTable::new();
    files.add(meta.clone());
    let mut new = duff_core::serving::NewVersions::new();
    for f in facts {
        new.add_batch(&files, meta, f)?;
    }
    let mut cube = duff_core::serving::Cube::new();
    let changed = duff_core::serving::fold_orders(&files, &mut cube, new.lines(&files), &[]);
    Ok((files, changed, cube))
}

fn bench(c: &mut Criterion) {
    let csv = data();
    let meta = meta(&csv);
    let cfg = IngestConfig::default();

    let mut g = c.benchmark_group("ingest");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(csv.len() as u64));
    g.bench_function("parse_validate_arrow", |b| {
        b.iter(|| ingest_bytes(meta.clone(), cfg.clone(), black_box(&csv), &mut Discard))
    });
    g.bench_function("parse_validate_arrow_parquet", |b| {
        b.iter(|| {
            let mut sink = ParquetSink::new(|_| Ok(std::io::sink()));
            let m = ingest_bytes(meta.clone(), cfg.clone(), black_box(&csv), &mut sink);
            sink.finish().map(|_| m)
        })
    });
    g.bench_function("content_hash", |b| b.iter(|| FileId::of_bytes(black_box(&csv))));
    // The fan-out's plan: hash + record scan, one pass (the Lambda plan step's CPU).
    g.bench_function("fanout_plan", |b| {
        b.iter(|| {
            let mut planner = duff_core::fanout::Planner::new(&cfg, 1 << 20);
            planner.push(black_box(&csv));
            planner.finish().plan.map(|p| p.parts.len())
        })
    });
    g.finish();

    let mut sink = CollectSink::default();
    if let Err(e) = ingest_bytes(meta.clone(), cfg, &csv, &mut sink) {
        panic!("ingesting the fixture: {e}");
    }
    let facts = sink.batches.remove(&Table::FactOrderLine).unwrap_or_default();
    let mut g = c.benchmark_group("lake_state");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(csv.len() as u64));
    g.bench_function("current_state", |b| {
        b.iter(|| {
            let mut s = CurrentState::new();
            for f in &facts {
                s.apply_batch(&meta, f)?;
            }
            Ok::<_, duff_core::Error>(s.len())
        })
    });
    let mut state = CurrentState::new();
    for f in &facts {
        if let Err(e) = state.apply_batch(&meta, f) {
            panic!("{e}");
        }
    }
    g.bench_function("reports", |b| {
        b.iter(|| {
            let f = ReportFilter::default();
            (
                reports::sales_by_product(&state, &f).len(),
                reports::order_status(&state, &f).len(),
                reports::orders_by_client(&state, &f).len(),
            )
        })
    });
    // The serving state: the new versions of a file folded into an empty state (a first
    // build), and the reports answered from its aggregates.
    g.bench_function("serving_fold", |b| {
        b.iter(|| first_fold(&meta, &facts).map(|(_, changed, cube)| (changed.len(), cube.total().lines)))
    });
    // A first run's files, from the lines that fold changed: `by_key` (what SQL readers and
    // later folds read) and `by_client` (what the API reads), with the lake's properties.
    // Each is a Parquet copy of every line: together they set the floor of a first fold.
    let (files, lines) = match first_fold(&meta, &facts) {
        Ok((files, lines, _)) => (files, lines),
        Err(e) => panic!("folding the fixture: {e}"),
    };
    let mut by_client = lines.clone();
    by_client.sort_unstable_by_key(|l| (l.client_id, l.key));
    // Lines per batch, as the lake's run writer encodes them.
    const BATCH: usize = 1 << 14;
    g.bench_function("serving_encode_by_key", |b| {
        b.iter(|| {
            let mut w = tables::TableWriter::lines(std::io::sink(), tables::SERVING_ROW_GROUP_ROWS)?;
            for chunk in lines.chunks(BATCH) {
                w.write(&tables::lines_batch(&files, chunk.iter(), 1)?)?;
            }
            w.finish().map(|_| ())
        })
    });
    g.bench_function("serving_encode_by_client", |b| {
        b.iter(|| {
            let mut w = tables::TableWriter::by_client(std::io::sink())?;
            for chunk in by_client.chunks(BATCH) {
                w.write(&tables::client_lines_batch(&files, chunk.iter())?)?;
            }
            w.finish().map(|_| ())
        })
    });
    let (cube, dims) = {
        let mut by_order: std::collections::BTreeMap<i64, Vec<&duff_core::Line>> = Default::default();
        for l in state.iter() {
            by_order.entry(l.key.order_id).or_default().push(l);
        }
        (duff_core::serving::Cube::of_orders(by_order.into_values()), state.dims().clone())
    };
    g.bench_function("serving_reports", |b| {
        b.iter(|| {
            let f = ReportFilter::default();
            reports::Report::ALL.iter().map(|r| cube.report(*r, &dims, &f).map_or(0, |rows| rows.len())).sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
