//! `duff status`: the lake's ingestions as a table in the terminal, newest first (what
//! `GET /ingestions` answers: docs/api.md).

use crate::text::table;
use duff_lake::{IngestionFilter, IngestionIndex, LocalLake};
use std::path::Path;
use std::time::Duration;

/// The table of the files `filter` keeps, newest first, at most `limit` of them (0: all),
/// and how many more there are.
///
/// # Errors
/// The lake cannot be opened, or its manifests listed or read.
pub fn status_table(lake: &Path, filter: &IngestionFilter, limit: usize) -> duff_lake::Result<(String, usize)> {
    let lake = LocalLake::open(lake)?;
    let index = IngestionIndex::new(lake.store().clone(), Duration::ZERO);
    let files = index.refresh()?;
    let kept: Vec<_> = files.files().iter().filter(|m| filter.keeps(m)).collect();
    let shown = if limit == 0 { kept.len() } else { kept.len().min(limit) };
    let rows: Vec<Vec<String>> = kept[..shown]
        .iter()
        .map(|m| {
            let reasons: Vec<String> = m.quarantined_by_reason.iter().map(|(c, n)| format!("{c} {n}")).collect();
            vec![
                m.ingested_at.clone(),
                m.outcome.as_str().to_owned(),
                m.rows_read.to_string(),
                m.rows_accepted.to_string(),
                m.rows_quarantined.to_string(),
                m.totals.amount.clone(),
                m.source.clone(),
                m.file_id.clone(),
                match &m.error {
                    Some(e) => e.code.clone(),
                    None => reasons.join(", "),
                },
            ]
        })
        .collect();
    let headers =
        ["ingested_at", "outcome", "read", "accepted", "quarantined", "amount", "source", "file_id", "problems"];
    Ok((table(&headers, &rows, &[2, 3, 4, 5]), kept.len() - shown))
}
