//! The input columns and the header: resolved by name, in any order.

use crate::error::{ErrorKind, Position, Result};
use std::fmt;

/// One of the ten required input columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Column {
    /// `client_id`: integer > 0.
    ClientId,
    /// `client_name`: non-empty text.
    ClientName,
    /// `order_id`: integer > 0.
    OrderId,
    /// `product_id`: integer > 0.
    ProductId,
    /// `product_description`: non-empty text.
    ProductDescription,
    /// `product_price`: decimal >= 0 with at most 2 places.
    ProductPrice,
    /// `product_ccf`: integer >= 1 (units ordered).
    ProductCcf,
    /// `product_volume`: decimal > 0 with at most 6 places (litres per unit).
    ProductVolume,
    /// `point_of_sale_channel`: Retail, Online or B2B.
    PointOfSaleChannel,
    /// `status`: created, delivered or broken.
    Status,
}

impl Column {
    /// Every required column, in the brief's order.
    pub const ALL: [Column; 10] = [
        Column::ClientId,
        Column::ClientName,
        Column::OrderId,
        Column::ProductId,
        Column::ProductDescription,
        Column::ProductPrice,
        Column::ProductCcf,
        Column::ProductVolume,
        Column::PointOfSaleChannel,
        Column::Status,
    ];

    /// The column's header name.
    pub const fn name(self) -> &'static str {
        match self {
            Column::ClientId => "client_id",
            Column::ClientName => "client_name",
            Column::OrderId => "order_id",
            Column::ProductId => "product_id",
            Column::ProductDescription => "product_description",
            Column::ProductPrice => "product_price",
            Column::ProductCcf => "product_ccf",
            Column::ProductVolume => "product_volume",
            Column::PointOfSaleChannel => "point_of_sale_channel",
            Column::Status => "status",
        }
    }

    /// The column with this (already normalised) header name.
    pub fn from_name(name: &str) -> Option<Column> {
        Column::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Position in [`Column::ALL`].
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A header resolved by name: where each required column is, and what else is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The field delimiter recognised from the header line.
    pub delimiter: u8,
    /// Number of fields in the header: every row must have exactly this many.
    pub width: usize,
    /// For each column of [`Column::ALL`], its 0-based field index.
    pub(crate) index: [usize; 10],
    /// Normalised names of every header field, in file order.
    pub names: Vec<String>,
    /// Names of fields that are not required columns (ignored, reported in the manifest).
    pub extra_columns: Vec<String>,
}

impl Header {
    /// The 0-based field index of `column`.
    pub fn field_of(&self, column: Column) -> usize {
        self.index[column.index()]
    }

    /// The name of field `i` (0-based), for messages.
    pub fn field_name(&self, i: usize) -> &str {
        self.names.get(i).map(String::as_str).unwrap_or("?")
    }
}

/// Normalises a header name: surrounding whitespace trimmed, ASCII lower-cased.
pub(crate) fn normalise(name: &str) -> String {
    name.trim().to_ascii_lowercase()
}

/// Resolves header fields (already split and unquoted) into a [`Header`].
///
/// # Errors
/// A missing or duplicated required column.
pub(crate) fn resolve(fields: Vec<String>, delimiter: u8, pos: Position) -> Result<Header> {
    let names: Vec<String> = fields.iter().map(|f| normalise(f)).collect();
    let mut index = [usize::MAX; 10];
    let mut extra_columns = Vec::new();
    for (i, name) in names.iter().enumerate() {
        match Column::from_name(name) {
            Some(c) => {
                let slot = &mut index[c.index()];
                if *slot != usize::MAX {
                    return Err(
                        ErrorKind::DuplicateColumn { name: c.name(), first: *slot + 1, second: i + 1, pos }.into()
                    );
                }
                *slot = i;
            }
            None => extra_columns.push(name.clone()),
        }
    }
    if let Some(missing) = Column::ALL.iter().find(|c| index[c.index()] == usize::MAX) {
        return Err(ErrorKind::MissingColumn { name: missing.name(), header: names, pos }.into());
    }
    Ok(Header { delimiter, width: names.len(), index, names, extra_columns })
}

/// The delimiters recognised from the header line, in order of preference on a tie.
pub const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// Picks the delimiter that splits `line` (the header line) into the most required column
/// names; on a tie, the one first in [`DELIMITERS`]. Quotes are honoured.
pub(crate) fn detect_delimiter(line: &[u8]) -> u8 {
    let mut best = (0usize, DELIMITERS[0]);
    for d in DELIMITERS {
        let hits = split_simple(line, d)
            .iter()
            .filter(|f| Column::from_name(&normalise(&String::from_utf8_lossy(f))).is_some())
            .count();
        if hits > best.0 {
            best = (hits, d);
        }
    }
    best.1
}

/// A small quote-aware split of one line, only for delimiter detection.
fn split_simple(line: &[u8], d: u8) -> Vec<Vec<u8>> {
    let mut out = vec![Vec::new()];
    let mut in_quotes = false;
    for &c in line {
        match c {
            b'"' => in_quotes = !in_quotes,
            c if c == d && !in_quotes => out.push(Vec::new()),
            b'\r' | b'\n' if !in_quotes => {}
            c => {
                if let Some(last) = out.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(s: &str) -> Vec<String> {
        s.split(',').map(str::to_owned).collect()
    }

    const STD: &str = "client_id,client_name,order_id,product_id,product_description,product_price,product_ccf,product_volume,point_of_sale_channel,status";

    #[test]
    fn resolves_any_order_case_and_spaces() {
        let h = resolve(
            header(" Status ,CLIENT_ID,client_name,order_id,product_id,product_description,product_price,product_ccf,product_volume,Point_Of_Sale_Channel,note"),
            b',',
            Position::default(),
        )
        .unwrap();
        assert_eq!(h.field_of(Column::Status), 0);
        assert_eq!(h.field_of(Column::ClientId), 1);
        assert_eq!(h.field_of(Column::PointOfSaleChannel), 9);
        assert_eq!(h.extra_columns, vec!["note".to_owned()]);
        assert_eq!(h.width, 11);
    }

    #[test]
    fn missing_column_is_named() {
        let e = resolve(header(&STD.replace(",status", "")), b',', Position::default()).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::MissingColumn { name: "status", .. }), "{e}");
        assert!(e.to_string().contains("`status`"));
    }

    #[test]
    fn duplicate_column_is_named() {
        let e = resolve(header(&format!("{STD},Order_ID")), b',', Position::default()).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::DuplicateColumn { name: "order_id", first: 3, second: 11, .. }), "{e}");
    }

    #[test]
    fn detects_delimiters() {
        assert_eq!(detect_delimiter(STD.as_bytes()), b',');
        assert_eq!(detect_delimiter(STD.replace(',', ";").as_bytes()), b';');
        assert_eq!(detect_delimiter(STD.replace(',', "\t").as_bytes()), b'\t');
        assert_eq!(detect_delimiter(STD.replace(',', "|").as_bytes()), b'|');
        // A comma inside a quoted name does not win over the real delimiter.
        let semi = format!("\"a,b,c,d,e\";{}", STD.replace(',', ";"));
        assert_eq!(detect_delimiter(semi.as_bytes()), b';');
        // Nothing recognisable: comma, so that the error names the missing columns.
        assert_eq!(detect_delimiter(b"foo;bar"), b',');
    }
}
