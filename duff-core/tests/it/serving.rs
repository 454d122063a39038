//! The serving state: folding files one group at a time, in any order, equals rebuilding
//! from every file, and its aggregates answer every report as the reference does.

use crate::common::*;
use duff_core::reports::{self, Report, ReportFilter, Sums};
use duff_core::serving::{self, Cube, CubeDelta, Dims, FileTable, Line, Names, NewVersions};
use duff_core::{Channel, CollectSink, CurrentState, FileMeta, LineKey, Status, Table};
use proptest::prelude::*;
use std::collections::BTreeMap;

const NAMES: [&str; 3] = ["Moe's Tavern", "Moe's", "Kwik-E-Mart"];
const DESCRIPTIONS: [&str; 3] = ["Duff Classic", "Duff Lite", "Duff \"Dry\""];
const CHANNELS: [&str; 3] = ["Retail", "online", "B2B"];
const STATUSES: [&str; 3] = ["created", "Delivered", "broken"];

/// One row: small id spaces so that lines, orders, clients and products repeat across
/// files; names and descriptions change between files.
fn row() -> impl Strategy<Value = String> {
    (1u8..6, 1u8..4, 1u8..4, 0usize..3, 0usize..3, 0u32..500, 1u32..30, 1u32..3000, 0usize..3, 0usize..3).prop_map(
        |(order, product, client, name, desc, cents, units, ml, ch, st)| {
            format!(
                "{client},\"{}\",{order},{product},\"{}\",{}.{:02},{units},{}.{:03},{},{}",
                NAMES[name],
                DESCRIPTIONS[desc].replace('"', "\"\""),
                cents / 100,
                cents % 100,
                ml / 1000,
                ml % 1000,
                CHANNELS[ch],
                STATUSES[st]
            )
        },
    )
}

/// Files: rows, an instant (few distinct ones: ties), and a source (few: ties there too).
fn files() -> impl Strategy<Value = Vec<(Vec<String>, i64, u8)>> {
    prop::collection::vec((prop::collection::vec(row(), 0..8), 0i64..4, 0u8..3), 1..7)
}

/// The files ingested: metadata and fact batches, duplicates (same content) dropped.
fn ingested(files: &[(Vec<String>, i64, u8)]) -> Vec<(FileMeta, CollectSink)> {
    let mut out: Vec<(FileMeta, CollectSink)> = Vec::new();
    for (rows, instant, source) in files {
        let csv = duff_testkit::csv_file(rows);
        let meta = meta_at(csv.as_bytes(), &format!("incoming/{source}.csv"), T0 + instant * 1_000_000);
        if out.iter().any(|(m, _)| m.file_id == meta.file_id) {
            continue;
        }
        let mut sink = CollectSink::default();
        duff_core::ingest_bytes(meta.clone(), lenient(), csv.as_bytes(), &mut sink).unwrap();
        out.push((meta, sink));
    }
    out
}

/// The reference: every file applied to an in-memory state.
fn rebuild(files: &[(FileMeta, CollectSink)]) -> CurrentState {
    let mut s = CurrentState::new();
    for (meta, sink) in files {
        for b in sink.batches.get(&Table::FactOrderLine).into_iter().flatten() {
            s.apply_batch(meta, b).unwrap();
        }
    }
    s
}

/// A serving state kept as the lake keeps it: the current lines by key, the aggregates.
#[derive(Default)]
struct Folded {
    files: FileTable,
    lines: BTreeMap<LineKey, Line>,
    cube: Cube,
    dims: Dims,
}

impl Folded {
    /// Folds one group of files.
    fn fold(&mut self, group: &[&(FileMeta, CollectSink)]) {
        for (meta, _) in group {
            self.files.add(meta.clone());
        }
        let mut new = NewVersions::new();
        for (meta, sink) in group {
            for b in sink.batches.get(&Table::FactOrderLine).into_iter().flatten() {
                new.add_batch(&self.files, meta, b).unwrap();
            }
        }
        let orders = new.orders(&self.files);
        let before: Vec<Line> =
            self.lines.values().filter(|l| orders.binary_search(&l.key.order_id).is_ok()).cloned().collect();
        let changed = serving::fold_orders(&self.files, &mut self.cube, new.lines(&self.files), &before);
        for l in changed {
            self.lines.insert(l.key, l);
        }
        // What the group says of clients and products, folded at once or read as dimensions
        // and merged: the same.
        let mut merged = self.dims.clone();
        merged.merge(&self.files, new.dims());
        serving::fold_dims(&self.files, &mut self.dims, &new);
        assert_eq!(merged, self.dims);
    }

    /// Writes the state as its tables and reads it back (what a new generation does).
    fn roundtrip(&mut self) {
        let mut names = Names::default();
        let batch = serving::tables::lines_batch(&self.files, self.lines.values(), 7).unwrap();
        let bytes = duff_core::to_parquet_bytes(&[batch]).unwrap();
        let mut lines = BTreeMap::new();
        for b in duff_core::read_parquet(bytes).unwrap() {
            serving::tables::decode_lines(&b, &mut names, |l| {
                lines.insert(l.key, l);
            })
            .unwrap();
        }
        assert_eq!(lines, self.lines);
        self.lines = lines;
        let mut cube = Cube::new();
        for (name, b) in serving::tables::cube_batches(&self.cube).unwrap() {
            let b = duff_core::read_parquet(duff_core::to_parquet_bytes(&[b]).unwrap()).unwrap();
            for b in b {
                serving::tables::read_cells(&mut cube, name, &b).unwrap();
            }
        }
        assert_eq!(cube, self.cube);
        let mut dims = Dims::new();
        for (name, b) in serving::tables::dims_batches(&self.dims).unwrap() {
            serving::tables::read_dims(&mut dims, &mut names, name, &b).unwrap();
        }
        assert_eq!(dims, self.dims);
    }
}

/// A line as the reader sees it: values and lineage (file content id, not seq).
fn view(files: &FileTable, l: &Line) -> (LineKey, i64, String, String, [i64; 5], Channel, Status, String, u64, i64) {
    (
        l.key,
        l.client_id,
        l.client_name.to_string(),
        l.product_description.to_string(),
        [l.unit_price, l.units, l.unit_volume, l.amount, l.volume],
        l.channel,
        l.status,
        files.get(l.version.file).unwrap().file_id.to_string(),
        l.version.line,
        l.first_seen_micros,
    )
}

fn filters() -> Vec<ReportFilter> {
    let mut out = Vec::new();
    for channel in [None, Some(Channel::Retail), Some(Channel::Online), Some(Channel::B2B)] {
        for status in [None, Some(Status::Created), Some(Status::Delivered), Some(Status::Broken)] {
            for client_id in [None, Some(1), Some(2), Some(3)] {
                for product_id in [None, Some(1), Some(3)] {
                    out.push(ReportFilter { channel, status, client_id, product_id });
                }
            }
        }
    }
    out
}

/// Shuffles with a seeded xorshift (Fisher-Yates).
fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut x = seed | 1;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn folding_files_in_any_order_and_grouping_equals_a_rebuild(
        files in files(),
        seed in any::<u64>(),
        cuts in prop::collection::vec(any::<bool>(), 8),
        roundtrips in prop::collection::vec(any::<bool>(), 8),
    ) {
        let files = ingested(&files);
        let reference = rebuild(&files);

        // Arrival order shuffled (delayed events), cut into groups folded one at a time.
        let mut order: Vec<&(FileMeta, CollectSink)> = files.iter().collect();
        shuffle(&mut order, seed);
        let mut folded = Folded::default();
        let mut group = Vec::new();
        for (i, f) in order.into_iter().enumerate() {
            group.push(f);
            if cuts[i % cuts.len()] {
                folded.fold(&group);
                group.clear();
                if roundtrips[i % roundtrips.len()] {
                    folded.roundtrip();
                }
            }
        }
        folded.fold(&group);

        // The same current lines...
        let want: Vec<_> = reference.lines().into_iter().map(|l| view(reference.files(), l)).collect();
        let have: Vec<_> = folded.lines.values().map(|l| view(&folded.files, l)).collect();
        prop_assert_eq!(have, want);
        // ...the same aggregates as a cube built from the reference's lines at once...
        let mut by_order: BTreeMap<i64, Vec<&Line>> = BTreeMap::new();
        for l in folded.lines.values() {
            by_order.entry(l.key.order_id).or_default().push(l);
        }
        prop_assert_eq!(&folded.cube, &Cube::of_orders(by_order.into_values()));
        // ...and every report, with every filter, as the reference computes it.
        for f in filters() {
            for r in Report::ALL {
                let want = reference.report(r, &f);
                let have = match folded.cube.report(r, &folded.dims, &f) {
                    Some(rows) => rows,
                    None => {
                        let client = f.client_id.unwrap_or_default();
                        let lines: Vec<&Line> = folded.lines.values().filter(|l| l.client_id == client).collect();
                        reports::report(r, lines.iter().copied(), &folded.dims, &f)
                    }
                };
                prop_assert_eq!(&have, &want, "{:?} {:?}", r, f);
            }
        }
    }
}

/// Orders for the cube's cells: each a few lines of distinct products (an order has one line
/// per product), of one client or several, over every channel and status.
fn cell_orders() -> impl Strategy<Value = Vec<Vec<Line>>> {
    let line = (1i64..6, 1i64..4, 0usize..3, 0usize..3, -5i64..30, -999i64..99_999, 0i64..50_000);
    prop::collection::vec(prop::collection::vec(line, 1..5), 0..12).prop_map(|orders| {
        orders
            .into_iter()
            .enumerate()
            .map(|(o, lines)| {
                let mut seen = Vec::new();
                lines
                    .into_iter()
                    .filter(|(product, ..)| {
                        let new = !seen.contains(product);
                        seen.push(*product);
                        new
                    })
                    .map(|(product, client, ch, st, units, amount, volume)| Line {
                        key: LineKey { order_id: o as i64 + 1, product_id: product },
                        client_id: client,
                        client_name: "Moe's".into(),
                        product_description: "Duff".into(),
                        unit_price: 1,
                        units,
                        unit_volume: 1,
                        amount,
                        volume,
                        channel: Channel::ALL[ch],
                        status: Status::ALL[st],
                        version: serving::Version { file: 0, line: 2 },
                        first_seen_micros: T0,
                    })
                    .collect()
            })
            .collect()
    })
}

/// The cells of `orders` by their definition: each cell sums its lines and counts the
/// distinct orders with a line in it.
fn plain_cube(orders: &[&Vec<Line>]) -> Cube {
    fn add(cell: &mut Sums, l: &Line, new_order: bool) {
        cell.orders += i64::from(new_order);
        cell.lines += 1;
        cell.units += i128::from(l.units);
        cell.amount += i128::from(l.amount);
        cell.volume += i128::from(l.volume);
    }
    let mut cube = Cube::new();
    let mut counted = std::collections::BTreeSet::new();
    for o in orders {
        for l in o.iter() {
            let order = l.key.order_id;
            let (c, s) = (l.channel, l.status);
            let new = counted.insert((order, "product", l.key.product_id, Some(c), Some(s)));
            add(cube.products.entry((l.key.product_id, c, s)).or_default(), l, new);
            for (c, s) in [(Some(c), Some(s)), (Some(c), None), (None, Some(s)), (None, None)] {
                let new = counted.insert((order, "client", l.client_id, c, s));
                add(cube.clients.entry((l.client_id, c, s)).or_default(), l, new);
                let new = counted.insert((order, "total", 0, c, s));
                add(cube.totals.entry((c, s)).or_default(), l, new);
            }
        }
    }
    cube.clients.retain(|_, s| !s.is_zero());
    cube.products.retain(|_, s| !s.is_zero());
    cube.totals.retain(|_, s| !s.is_zero());
    cube
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_cubes_cells_are_the_sums_of_their_orders_lines(
        orders in cell_orders(),
        redone in prop::collection::vec(any::<bool>(), 12),
        kept in prop::collection::vec(any::<bool>(), 12),
    ) {
        let all: Vec<&Vec<Line>> = orders.iter().collect();
        fn refs(o: &[Line]) -> Vec<&Line> {
            o.iter().collect()
        }
        // Every order added, some also taken out and put back, and a phantom order put in
        // and taken out: the -1 and +1 cancel to nothing.
        let mut delta = CubeDelta::new();
        for (i, o) in orders.iter().enumerate() {
            delta.add_order(&refs(o), 1);
            if redone[i] {
                delta.add_lines(o.iter(), -1);
                delta.add_lines(o.iter(), 1);
            }
        }
        if let Some(o) = orders.first() {
            let mut phantom = o.clone();
            for l in &mut phantom {
                l.key.order_id = 1_000;
                l.client_id += 10;
            }
            delta.add_lines(phantom.iter(), 1);
            delta.add_lines(phantom.iter(), -1);
        }
        let mut cube = Cube::new();
        cube.apply(delta);
        prop_assert_eq!(&cube, &plain_cube(&all));
        prop_assert_eq!(&Cube::of_orders(all.iter().map(|o| refs(o))), &plain_cube(&all));
        // Then some orders taken out of the built cube.
        let mut delta = CubeDelta::new();
        let mut rest = Vec::new();
        for (i, o) in orders.iter().enumerate() {
            if kept[i] {
                rest.push(o);
            } else {
                delta.add_order(&refs(o), -1);
            }
        }
        cube.apply(delta);
        prop_assert_eq!(&cube, &plain_cube(&rest));
    }
}

#[test]
fn a_product_renamed_keeps_its_latest_description_under_every_filter() {
    let day1 = duff_testkit::csv_file(&[
        "1,Moe,10,102,Duff Classic,2.50,6,0.33,Retail,created",
        "1,Moe,11,102,Duff Classic,2.50,6,0.33,Retail,delivered",
    ]);
    let day2 = duff_testkit::csv_file(&["2,Barney,12,102,Duff Classic Reserve,2.50,6,0.33,B2B,created"]);
    let files =
        vec![(meta_at(day1.as_bytes(), "day1.csv", T0), day1), (meta_at(day2.as_bytes(), "day2.csv", T0 + 1), day2)];
    let mut state = CurrentState::new();
    for (meta, csv) in &files {
        let mut sink = CollectSink::default();
        duff_core::ingest_bytes(meta.clone(), lenient(), csv.as_bytes(), &mut sink).unwrap();
        for b in &sink.batches[&Table::FactOrderLine] {
            state.apply_batch(meta, b).unwrap();
        }
    }
    // Filtered on Retail (whose lines all say "Duff Classic"), the product still shows its
    // current description: a product has one name now, whatever the filter.
    let f = ReportFilter { channel: Some(Channel::Retail), ..ReportFilter::default() };
    let rows = reports::sales_by_product(&state, &f);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].product_description, "Duff Classic Reserve");
    assert_eq!(rows[0].orders, 2);
}

#[test]
fn a_clients_row_groups_read_from_a_ranged_read_with_a_kept_footer() {
    use duff_core::serving::tables::{self, Footer, TableWriter};
    // 40 lines of 7 clients, sorted by client, in row groups of 3 lines.
    let rows: Vec<String> = (0..40)
        .map(|i| {
            format!("{},Client {},{},{},Duff {},2.50,6,0.33,Retail,created", i % 7, i % 7, 100 + i, 200 + i % 3, i % 3)
        })
        .collect();
    let csv = duff_testkit::csv_file(&rows);
    let meta = meta_at(csv.as_bytes(), "day1.csv", T0);
    let mut sink = CollectSink::default();
    duff_core::ingest_bytes(meta.clone(), lenient(), csv.as_bytes(), &mut sink).unwrap();
    let mut f = Folded::default();
    f.fold(&[&(meta, sink)]);
    let mut lines: Vec<Line> = f.lines.values().cloned().collect();
    lines.sort_by_key(|l| (l.client_id, l.key));
    let mut w = TableWriter::with_row_groups(Vec::new(), tables::lines_schema(), 3).unwrap();
    w.write(&tables::lines_batch(&f.files, lines.iter(), 1).unwrap()).unwrap();
    let file = duff_core::bytes::Bytes::from(w.finish().unwrap());
    let size = file.len() as u64;

    // A tail too short says how much it needs; that much parses.
    let short = &file[file.len() - 16..];
    let need = Footer::parse(short, size).unwrap().unwrap_err();
    let footer = Footer::parse(&file[file.len() - need as usize..], size).unwrap().unwrap();
    let mut names = Names::default();
    for client in 0..7 {
        let groups = footer.row_groups_where("client_id", |lo, hi| lo <= client && client <= hi).unwrap();
        assert!(groups.len() < 14, "client {client}: {} of 14 row groups", groups.len());
        let (start, len) = footer.byte_range(&groups);
        let part = file.slice(start as usize..(start + len) as usize);
        let mut got = Vec::new();
        footer
            .read_lines(start, part.clone(), groups.clone(), &mut names, |l| {
                if l.client_id == client {
                    got.push(l);
                }
            })
            .unwrap();
        let want: Vec<Line> = lines.iter().filter(|l| l.client_id == client).cloned().collect();
        assert_eq!(got, want, "client {client}");

        // The heads say which rows are the client's; the lines at some of those rows alone
        // (every other one, then the first and the last, across row groups) are those lines.
        let mut heads = Vec::new();
        footer
            .read_heads(start, part.clone(), groups.clone(), |h| {
                heads.push(h);
                std::ops::ControlFlow::Continue(())
            })
            .unwrap();
        let all_rows: Vec<Line> = {
            let mut v = Vec::new();
            footer.read_lines(start, part.clone(), groups.clone(), &mut names, |l| v.push(l)).unwrap();
            v
        };
        assert_eq!(heads.len(), all_rows.len());
        for (h, l) in heads.iter().zip(&all_rows) {
            assert_eq!((h.key, h.client_id, h.channel, h.status), (l.key, l.client_id, l.channel, l.status));
        }
        let mine: Vec<usize> = (0..heads.len()).filter(|&r| heads[r].client_id == client).collect();
        let every_other: Vec<usize> = mine.iter().copied().step_by(2).collect();
        let ends: Vec<usize> = [mine.first(), mine.last()].into_iter().flatten().copied().collect();
        let last: Vec<usize> = mine.last().copied().into_iter().collect();
        for rows in [mine.clone(), every_other, ends, last, Vec::new()] {
            let mut at = Vec::new();
            footer.read_lines_at(start, part.clone(), groups.clone(), &rows, &mut names, |l| at.push(l)).unwrap();
            let want: Vec<Line> = rows.iter().map(|&r| all_rows[r].clone()).collect();
            assert_eq!(at, want, "client {client}, rows {rows:?}");
        }
    }
    // Bytes outside what was read are an error, not a wrong answer.
    let groups = footer.row_groups_where("client_id", |lo, hi| lo <= 6 && 6 <= hi).unwrap();
    let (start, len) = footer.byte_range(&groups);
    // (Cut in the middle: the last columns of a run file are not decoded, so bytes missing
    // from them alone would not be noticed, nor need to be.)
    let cut = file.slice(start as usize..(start + len / 2) as usize);
    assert!(footer.read_lines(start, cut, groups, &mut names, |_| {}).is_err());
    assert!(Footer::parse(b"not parquet at all", 18).is_err());
}
