//! An engine without SQL: it answers the router's questions from `duff_core::reports` over a
//! `duff_core::CurrentState` held in memory (the marts and the client's lines computed here
//! from the same state). It shows that the router needs nothing of SQL: every route answers
//! the same JSON whichever engine is behind it.

use duff_api::{BoxFuture, ClientOrders, EngineError, QueryEngine, Question, Report, ResultSet};
use duff_core::reports::{self, ReportFilter};
use duff_core::{Channel, CurrentState, LineKey, LineState, MONEY_SCALE, Status, format_litres, format_scaled};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Answers from a current state loaded once.
#[derive(Debug)]
pub struct ReferenceEngine {
    state: CurrentState,
}

impl ReferenceEngine {
    pub fn new(state: CurrentState) -> ReferenceEngine {
        ReferenceEngine { state }
    }

    /// The current state of the lake in `root` (an empty one when the folder is missing).
    pub fn load(root: &Path) -> ReferenceEngine {
        if !root.exists() {
            return ReferenceEngine::new(CurrentState::new());
        }
        let (state, _) = duff_lake::LocalLake::open(root).unwrap().load_state().unwrap();
        ReferenceEngine::new(state)
    }

    fn report(&self, report: Report, f: &ReportFilter) -> ResultSet {
        let s = &self.state;
        let int = |v: i128| Some(v.to_string());
        let text = |v: &str| Some(v.to_owned());
        let rows: Vec<Vec<Option<String>>> = match report {
            Report::SalesByProduct => reports::sales_by_product(s, f)
                .into_iter()
                .map(|r| {
                    vec![
                        int(r.product_id.into()),
                        text(&r.product_description),
                        int(r.orders.into()),
                        int(r.units),
                        text(&r.sales),
                        text(&r.volume_l),
                    ]
                })
                .collect(),
            Report::OrderStatus => reports::order_status(s, f)
                .into_iter()
                .map(|r| vec![text(r.status.as_str()), int(r.orders.into()), int(r.units), text(&r.sales)])
                .collect(),
            Report::OrdersByClient => reports::orders_by_client(s, f)
                .into_iter()
                .map(|r| {
                    vec![
                        int(r.client_id.into()),
                        text(&r.client_name),
                        int(r.orders.into()),
                        int(r.units),
                        text(&r.sales),
                    ]
                })
                .collect(),
            Report::SalesByChannel => reports::sales_by_channel(s, f)
                .into_iter()
                .map(|r| {
                    vec![
                        text(r.channel.as_str()),
                        int(r.orders.into()),
                        int(r.units),
                        text(&r.sales),
                        text(&r.volume_l),
                    ]
                })
                .collect(),
            Report::BrokenRateByProduct | Report::BrokenRateByChannel | Report::ClientValue => self.mart(report, f),
        };
        let columns = report.columns().iter().map(|c| c.name.to_owned()).collect();
        ResultSet { columns, rows }
    }

    /// The mart routes, grouped here over the lines the filter keeps.
    fn mart(&self, report: Report, f: &ReportFilter) -> Vec<Vec<Option<String>>> {
        struct Group<'a> {
            lines: i128,
            broken: i128,
            orders: BTreeSet<i64>,
            units: i128,
            cents: i128,
            first_seen: i64,
            last_seen: i64,
            latest: &'a LineState,
        }
        let s = &self.state;
        let mut groups: BTreeMap<i64, Group<'_>> = BTreeMap::new();
        for (k, l) in s.iter().filter(|(k, l)| keeps(f, k, l)) {
            let key = match report {
                Report::BrokenRateByProduct => k.product_id,
                Report::BrokenRateByChannel => Channel::ALL.iter().position(|c| *c == l.channel).unwrap() as i64,
                _ => l.client_id,
            };
            let g = groups.entry(key).or_insert_with(|| Group {
                lines: 0,
                broken: 0,
                orders: BTreeSet::new(),
                units: 0,
                cents: 0,
                first_seen: i64::MAX,
                last_seen: i64::MIN,
                latest: l,
            });
            g.lines += 1;
            g.broken += i128::from(l.status == Status::Broken);
            g.orders.insert(k.order_id);
            g.units += i128::from(l.units);
            g.cents += i128::from(l.amount);
            g.first_seen = g.first_seen.min(l.first_seen_micros);
            g.last_seen = g.last_seen.max(s.file_of(l).ingested_at_micros);
            if s.cmp_versions(l, g.latest).is_gt() {
                g.latest = l;
            }
        }
        let some = |v: String| Some(v);
        groups
            .into_iter()
            .map(|(key, g)| {
                let rate = some(format_scaled(half_even(g.broken * 1_000_000, g.lines), 6));
                let (lines, broken) = (some(g.lines.to_string()), some(g.broken.to_string()));
                match report {
                    Report::BrokenRateByProduct => {
                        vec![
                            some(key.to_string()),
                            some(s.product_description(g.latest).to_owned()),
                            lines,
                            broken,
                            rate,
                        ]
                    }
                    Report::BrokenRateByChannel => {
                        vec![some(Channel::ALL[key as usize].as_str().to_owned()), lines, broken, rate]
                    }
                    _ => {
                        let orders = g.orders.len() as i128;
                        vec![
                            some(key.to_string()),
                            some(s.client_name(g.latest).to_owned()),
                            some(orders.to_string()),
                            lines,
                            some(g.units.to_string()),
                            some(format_scaled(g.cents, MONEY_SCALE)),
                            some(format_scaled(half_even(g.cents, orders), MONEY_SCALE)),
                            some(instant(g.first_seen)),
                            some(instant(g.last_seen)),
                        ]
                    }
                }
            })
            .collect()
    }

    fn client_orders(&self, q: &ClientOrders) -> ResultSet {
        let s = &self.state;
        let mut columns = vec!["client_name".to_owned()];
        columns.extend(ClientOrders::COLUMNS.iter().map(|c| c.name.to_owned()));
        let lines = s.client_lines(q.client_id);
        let Some(latest) = lines.iter().map(|(_, l)| *l).max_by(|a, b| s.cmp_versions(a, b)) else {
            return ResultSet { columns, rows: Vec::new() };
        };
        let name = Some(s.client_name(latest).to_owned());
        let kept: Vec<Vec<Option<String>>> = lines
            .iter()
            .filter(|(_, l)| q.status.is_none_or(|st| st == l.status) && q.channel.is_none_or(|c| c == l.channel))
            .filter(|(k, _)| q.after.is_none_or(|a| (k.order_id, k.product_id) > (a.order_id, a.product_id)))
            .take(q.limit as usize + 1)
            .map(|(k, l)| {
                vec![
                    name.clone(),
                    Some(k.order_id.to_string()),
                    Some(k.product_id.to_string()),
                    Some(s.product_description(l).to_owned()),
                    Some(l.units.to_string()),
                    Some(format_scaled(l.unit_price.into(), MONEY_SCALE)),
                    Some(format_scaled(l.amount.into(), MONEY_SCALE)),
                    Some(format_litres(l.volume.into())),
                    Some(l.channel.as_str().to_owned()),
                    Some(l.status.as_str().to_owned()),
                ]
            })
            .collect();
        let rows = if kept.is_empty() {
            // A known client whose lines the filters exclude: its name, no line.
            let mut row = vec![None; columns.len()];
            row[0] = name;
            vec![row]
        } else {
            kept
        };
        ResultSet { columns, rows }
    }
}

impl QueryEngine for ReferenceEngine {
    fn name(&self) -> &'static str {
        "reference"
    }

    fn answer<'a>(&'a self, question: &'a Question) -> BoxFuture<'a, Result<ResultSet, EngineError>> {
        let rs = match question {
            Question::Report(r, f) => self.report(*r, f),
            Question::ClientOrders(q) => self.client_orders(q),
        };
        Box::pin(async move { Ok(rs) })
    }
}

fn keeps(f: &ReportFilter, k: &LineKey, l: &LineState) -> bool {
    f.channel.is_none_or(|c| c == l.channel)
        && f.status.is_none_or(|s| s == l.status)
        && f.client_id.is_none_or(|c| c == l.client_id)
        && f.product_id.is_none_or(|p| p == k.product_id)
}

/// `n / d` rounded half to even.
fn half_even(n: i128, d: i128) -> i128 {
    let (q, r) = (n / d, n % d);
    if 2 * r > d || (2 * r == d && q % 2 == 1) { q + 1 } else { q }
}

/// An instant in RFC 3339, UTC.
fn instant(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros).unwrap().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}
