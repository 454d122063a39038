//! What a route asks: a [`Question`], answered by a [`QueryEngine`](crate::QueryEngine).
//!
//! The router turns a request into a question (its parameters checked and typed before)
//! and renders the engine's answer; the engine decides how to answer it. A SQL engine runs
//! the catalog's [`Question::query`]; another engine may answer from memory. Every engine
//! answers in the shape described on [`Question`], so the JSON of a route does not depend on
//! the engine.

use crate::catalog::{ClientOrders, Filter, OutColumn, Query, Report};
use duff_core::reports::ReportFilter;

/// A question of the API.
///
/// Its answer is a [`ResultSet`](crate::ResultSet): columns named as
/// [`Question::columns`] says (in any order; more columns are ignored; an answer without
/// rows may come without columns), values as text that [`render`](crate::render)
/// normalises (integers in decimal digits, money and litres as exact decimal text at any
/// scale, ratios as exact decimal text with at most 6 places, instants in RFC 3339 UTC or
/// Athena's `2026-11-27 08:00:00.000`). Each order line counts once, in its latest
/// version; the text of a group (`product_description`, `client_name`) is the one on the
/// group's latest line.
///
/// - [`Question::Report`]: one row per group of the report, in the report's order
///   ([`Report`] says which), over the current lines the filter keeps; no NULL.
/// - [`Question::ClientOrders`]: the column `client_name` (the name on the client's latest
///   line) and [`ClientOrders::COLUMNS`]. No row at all when the client has no line; one
///   row whose order columns are NULL when it has lines but the filters keep none;
///   otherwise its kept lines after [`ClientOrders::after`], sorted by `(order_id,
///   product_id)`, at most [`ClientOrders::limit`] + 1 of them (the router pages with the
///   extra one), each with the client's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Question {
    /// `/reports/{name}`: a report with its filters.
    Report(Report, ReportFilter),
    /// `/clients/{client_id}/orders`: a page of a client's order lines.
    ClientOrders(ClientOrders),
}

impl Question {
    /// Whether the question is about one client (its answer is asked for less often than
    /// a report over every client, and costs less to compute again).
    pub fn is_about_one_client(&self) -> bool {
        match self {
            Question::Report(_, f) => f.client_id.is_some(),
            Question::ClientOrders(_) => true,
        }
    }

    /// The question of `report` under `filter`, without the filters the report does not
    /// accept (so that every engine ignores them alike).
    pub fn report(report: Report, filter: &ReportFilter) -> Question {
        let mut kept = ReportFilter::default();
        for f in report.filters() {
            match f {
                Filter::Channel => kept.channel = filter.channel,
                Filter::Status => kept.status = filter.status,
                Filter::ClientId => kept.client_id = filter.client_id,
                Filter::ProductId => kept.product_id = filter.product_id,
            }
        }
        Question::Report(report, kept)
    }

    /// A short name for logs (the report's name, or `client-orders`).
    pub fn name(&self) -> &'static str {
        match self {
            Question::Report(r, _) => r.name(),
            Question::ClientOrders(_) => "client-orders",
        }
    }

    /// The catalog's query answering the question, for SQL engines.
    pub fn query(&self) -> Query {
        match self {
            Question::Report(r, f) => r.query(f),
            Question::ClientOrders(q) => q.query(),
        }
    }

    /// The columns of the answer the router reads (for [`Question::ClientOrders`], besides
    /// `client_name`).
    pub fn columns(&self) -> &'static [OutColumn] {
        match self {
            Question::Report(r, _) => r.columns(),
            Question::ClientOrders(_) => &ClientOrders::COLUMNS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use duff_core::{Channel, Status};

    #[test]
    fn a_report_question_keeps_only_the_filters_the_report_accepts() {
        let all = ReportFilter {
            channel: Some(Channel::B2B),
            status: Some(Status::Broken),
            client_id: Some(7),
            product_id: Some(9),
        };
        for r in Report::ALL {
            let Question::Report(_, kept) = Question::report(r, &all) else { unreachable!() };
            let has = |f: Filter| r.filters().contains(&f);
            assert_eq!(kept.channel.is_some(), has(Filter::Channel), "{}", r.name());
            assert_eq!(kept.status.is_some(), has(Filter::Status), "{}", r.name());
            assert_eq!(kept.client_id.is_some(), has(Filter::ClientId), "{}", r.name());
            assert_eq!(kept.product_id.is_some(), has(Filter::ProductId), "{}", r.name());
            // The SQL is the report's own: the filters it ignores change nothing.
            assert_eq!(Question::report(r, &all).query(), r.query(&all), "{}", r.name());
            assert_eq!(Question::report(r, &all).columns(), r.columns());
        }
    }
}
