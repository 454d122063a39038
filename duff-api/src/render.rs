//! Result sets to JSON: columns read by name, numbers normalised exactly.
//!
//! Engines render decimals at their own width (`15.00` from a `DECIMAL(28, 2)`, `1.980000`
//! from a `DECIMAL(38, 6)`): every value is parsed back to an exact scaled integer and
//! formatted the way `duff_core` does, so both engines answer the same JSON.

use crate::catalog::{Kind, OutColumn};
use crate::engine::{Datum, EngineError, ResultSet};
use duff_core::{Litres, MONEY_SCALE, Scaled, VOLUME_SCALE, format_litres, format_scaled};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// Parses plain decimal text (`-12`, `3.50`, `.5`) into a mantissa at `scale`. Digits past
/// `scale` must be zeros: a value is never rounded.
pub fn parse_scaled(text: &str, scale: u32) -> Option<i128> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let scale = scale as usize;
    let (kept, dropped) = if frac.len() > scale { frac.split_at(scale) } else { (frac, "") };
    if dropped.bytes().any(|b| b != b'0') {
        return None;
    }
    let mut v: i128 = 0;
    for b in int.bytes().chain(kept.bytes()).chain(std::iter::repeat_n(b'0', scale - kept.len())) {
        v = v.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    Some(if neg { -v } else { v })
}

/// One JSON value of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// A JSON number.
    Int(i128),
    /// A JSON string.
    Str(String),
    /// A JSON string shared by many rows (a name).
    Shared(std::sync::Arc<str>),
    /// A fixed JSON string (a channel, a status).
    Static(&'static str),
    /// An exact decimal, as a JSON string at its scale (`"15.00"`).
    Scaled(Scaled),
    /// Litres in millionths, as a JSON string ([`duff_core::format_litres`]).
    Litres(i128),
}

impl Serialize for Cell {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Int(i) => s.serialize_i128(*i),
            Cell::Str(t) => s.serialize_str(t),
            Cell::Shared(t) => s.serialize_str(t),
            Cell::Static(t) => s.serialize_str(t),
            // Written straight into the output, without a string of its own.
            Cell::Scaled(d) => s.collect_str(d),
            Cell::Litres(m) => s.collect_str(&Litres(*m)),
        }
    }
}

/// A row of a report: a JSON object with the catalog's columns, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    columns: &'static [OutColumn],
    cells: Vec<Cell>,
}

impl Row {
    /// The cell of column `name`.
    pub fn get(&self, name: &str) -> Option<&Cell> {
        self.columns.iter().position(|c| c.name == name).and_then(|i| self.cells.get(i))
    }
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.cells.len()))?;
        for (c, v) in self.columns.iter().zip(&self.cells) {
            m.serialize_entry(c.name, v)?;
        }
        m.end()
    }
}

/// A value as a cell of `kind`.
///
/// # Errors
/// A value that is not of its kind (an engine answering unexpectedly).
pub fn cell(column: &str, kind: Kind, text: &str) -> Result<Cell, EngineError> {
    let bad = || EngineError::internal(format!("column `{column}`: `{text}` is not a {kind:?} value"));
    Ok(match kind {
        Kind::Int => Cell::Int(parse_scaled(text, 0).ok_or_else(bad)?),
        Kind::Money => Cell::Str(format_scaled(parse_scaled(text, MONEY_SCALE).ok_or_else(bad)?, MONEY_SCALE)),
        Kind::Litres => Cell::Str(format_litres(parse_scaled(text, VOLUME_SCALE).ok_or_else(bad)?)),
        Kind::Text => Cell::Str(text.to_owned()),
        Kind::Rate => Cell::Str(format_scaled(parse_scaled(text, RATE_SCALE).ok_or_else(bad)?, RATE_SCALE)),
        Kind::Timestamp => Cell::Str(rfc3339(text).ok_or_else(bad)?),
    })
}

/// A value as a cell of `kind`: a value an engine gave as it is is taken without parsing;
/// text is parsed ([`cell`]).
///
/// # Errors
/// A value that is not of its kind (an engine answering unexpectedly).
pub fn value_cell(column: &str, kind: Kind, value: &Datum) -> Result<Cell, EngineError> {
    // `d` at `scale` places exactly (never rounded).
    let at = |d: &Scaled, scale: u32| -> Option<i128> {
        if d.scale <= scale {
            d.mantissa.checked_mul(10i128.checked_pow(scale - d.scale)?)
        } else {
            let div = 10i128.checked_pow(d.scale - scale)?;
            (d.mantissa % div == 0).then(|| d.mantissa / div)
        }
    };
    let typed = match (kind, value) {
        (Kind::Int, Datum::Int(i)) => Some(Cell::Int(i128::from(*i))),
        (Kind::Money, Datum::Decimal(d)) => {
            at(d, MONEY_SCALE).map(|m| Cell::Scaled(Scaled { mantissa: m, scale: MONEY_SCALE }))
        }
        (Kind::Rate, Datum::Decimal(d)) => {
            at(d, RATE_SCALE).map(|m| Cell::Scaled(Scaled { mantissa: m, scale: RATE_SCALE }))
        }
        (Kind::Litres, Datum::Decimal(d)) => at(d, VOLUME_SCALE).map(Cell::Litres),
        (Kind::Text, Datum::Text(t)) => Some(Cell::Str(t.clone())),
        (Kind::Text, Datum::Shared(t)) => Some(Cell::Shared(t.clone())),
        (Kind::Text, Datum::Static(t)) => Some(Cell::Static(t)),
        _ => None,
    };
    match typed {
        Some(c) => Ok(c),
        None => cell(column, kind, &value.text()),
    }
}

/// Decimal places of a ratio.
pub const RATE_SCALE: u32 = 6;

/// An instant as either engine writes it, in RFC 3339 (UTC, `Z`).
///
/// Accepted: `YYYY-MM-DD`, `T` or a space, `HH:MM:SS`, optionally `.` and 1 to 9 digits,
/// optionally `Z`, ` UTC` or `+00:00` (Arrow writes `2026-11-27T08:00:00.5Z`, Athena
/// `2026-11-27 08:00:00.500`; the lake's instants are all UTC). The sub-second digits are
/// kept, trailing zeros dropped, padded to 3, 6 or 9 digits (chrono's `SecondsFormat::AutoSi`).
pub fn rfc3339(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let shape = b.len() >= 19
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b[10] == b'T' || b[10] == b' ')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape {
        return None;
    }
    let two = |i: usize| u32::from(b[i] - b'0') * 10 + u32::from(b[i + 1] - b'0');
    let (month, day, hour, minute, second) = (two(5), two(8), two(11), two(14), two(17));
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let rest = &text[19..];
    let (frac, zone) = match rest.strip_prefix('.') {
        Some(r) => {
            let n = r.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 || n > 9 {
                return None;
            }
            (&r[..n], &r[n..])
        }
        None => ("", rest),
    };
    if !matches!(zone, "" | "Z" | " UTC" | "+00:00") {
        return None;
    }
    let frac = frac.trim_end_matches('0');
    let mut out = String::with_capacity(30);
    out.push_str(&text[..10]);
    out.push('T');
    out.push_str(&text[11..19]);
    if !frac.is_empty() {
        let width = frac.len().div_ceil(3) * 3;
        out.push('.');
        out.push_str(frac);
        out.extend(std::iter::repeat_n('0', width - frac.len()));
    }
    out.push('Z');
    Some(out)
}

/// Finds the index of every column of `columns` in `rs`.
///
/// # Errors
/// A column the result set lacks (only when it has rows: an empty result may come without
/// column names).
pub fn column_indexes(rs: &ResultSet, columns: &[OutColumn]) -> Result<Vec<usize>, EngineError> {
    columns
        .iter()
        .map(|c| rs.column(c.name).ok_or_else(|| EngineError::internal(format!("column `{}` is missing", c.name))))
        .collect()
}

/// Every row of `rs` as JSON rows of `columns`. NULL is not expected in a report.
///
/// # Errors
/// A missing column, a NULL, or a value not of its kind.
pub fn rows(rs: &ResultSet, columns: &'static [OutColumn]) -> Result<Vec<Row>, EngineError> {
    if rs.rows.is_empty() {
        return Ok(Vec::new());
    }
    let idx = column_indexes(rs, columns)?;
    rs.rows.iter().map(|r| row(r, columns, &idx)).collect()
}

/// One row of `rs` (values at `idx`) as a JSON row of `columns`.
///
/// # Errors
/// A NULL, or a value not of its kind.
pub fn row(r: &[Option<Datum>], columns: &'static [OutColumn], idx: &[usize]) -> Result<Row, EngineError> {
    let cells = columns
        .iter()
        .zip(idx)
        .map(|(c, &i)| match r.get(i).and_then(Option::as_ref) {
            Some(value) => value_cell(c.name, c.kind, value),
            None => Err(EngineError::internal(format!("column `{}` is NULL", c.name))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Row { columns, cells })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exactly_or_not_at_all() {
        assert_eq!(parse_scaled("15.00", 2), Some(1500));
        assert_eq!(parse_scaled("15", 2), Some(1500));
        assert_eq!(parse_scaled("1.980000", 6), Some(1_980_000));
        assert_eq!(parse_scaled(".5", 2), Some(50));
        assert_eq!(parse_scaled("-0.35", 2), Some(-35));
        assert_eq!(parse_scaled("2.505", 2), None);
        assert_eq!(parse_scaled("2.500", 2), Some(250));
        assert_eq!(parse_scaled("", 2), None);
        assert_eq!(parse_scaled(".", 2), None);
        assert_eq!(parse_scaled("1e3", 2), None);
        assert_eq!(parse_scaled("12", 0), Some(12));
        assert_eq!(parse_scaled("12.0", 0), Some(12));
        assert_eq!(parse_scaled(&"9".repeat(60), 0), None);
    }

    #[test]
    fn instants_from_either_engine_are_one_rfc3339() {
        let z = |t: &str| rfc3339(t);
        // Arrow (DataFusion) and Athena spellings of the same instants.
        assert_eq!(z("2026-11-27T08:00:00Z").as_deref(), Some("2026-11-27T08:00:00Z"));
        assert_eq!(z("2026-11-27 08:00:00.000").as_deref(), Some("2026-11-27T08:00:00Z"));
        assert_eq!(z("2026-11-27 08:00:00.000 UTC").as_deref(), Some("2026-11-27T08:00:00Z"));
        assert_eq!(z("2026-11-27T08:00:00.5Z").as_deref(), Some("2026-11-27T08:00:00.500Z"));
        assert_eq!(z("2026-11-27 08:00:00.500").as_deref(), Some("2026-11-27T08:00:00.500Z"));
        assert_eq!(z("2026-11-27T08:00:00.123456Z").as_deref(), Some("2026-11-27T08:00:00.123456Z"));
        assert_eq!(z("2026-11-27T08:00:00.1234+00:00").as_deref(), Some("2026-11-27T08:00:00.123400Z"));
        for bad in [
            "",
            "2026-11-27",
            "2026-11-27T08:00:00+01:00",
            "2026-13-27T08:00:00Z",
            "2026-11-27T24:00:00Z",
            "2026-11-27T08:00:00.Z",
            "2026-11-27T08:00:00.1234567890Z",
            "20x6-11-27T08:00:00Z",
            "2026-11-27T08:00:00Zjunk",
        ] {
            assert_eq!(z(bad), None, "{bad}");
        }
        assert!(cell("t", Kind::Timestamp, "yesterday").is_err());
    }

    #[test]
    fn values_given_as_they_are_render_like_their_text() {
        let d = |mantissa, scale| Datum::Decimal(Scaled { mantissa, scale });
        let cases = [
            (Kind::Money, d(1500, 2), "15.00"),
            (Kind::Money, d(15, 0), "15"),
            (Kind::Money, d(-35, 2), "-0.35"),
            (Kind::Money, d(2_500, 3), "2.500"),
            (Kind::Litres, d(3_960_000, 6), "3.960000"),
            (Kind::Litres, d(24, 0), "24"),
            (Kind::Rate, d(25, 2), "0.25"),
            (Kind::Int, Datum::Int(42), "42"),
            (Kind::Text, Datum::Static("Retail"), "Retail"),
            (Kind::Text, Datum::Shared("Moe's \"Tavern\"".into()), "Moe's \"Tavern\""),
            (Kind::Text, Datum::Text("x".into()), "x"),
        ];
        for (kind, value, text) in cases {
            let typed = serde_json::to_string(&value_cell("c", kind, &value).unwrap()).unwrap();
            let parsed = serde_json::to_string(&cell("c", kind, text).unwrap()).unwrap();
            assert_eq!(typed, parsed, "{kind:?} {value:?}");
        }
        // Never rounded, given as it is or as text.
        assert!(value_cell("c", Kind::Money, &d(2_505, 3)).is_err());
        assert!(value_cell("c", Kind::Int, &d(42, 1)).is_err());
    }

    #[test]
    fn cells_are_normalised_like_the_core() {
        assert_eq!(cell("s", Kind::Money, "15.0000").unwrap(), Cell::Str("15.00".into()));
        assert_eq!(cell("v", Kind::Litres, "3.960000").unwrap(), Cell::Str("3.96".into()));
        assert_eq!(cell("v", Kind::Litres, "24").unwrap(), Cell::Str("24.00".into()));
        assert_eq!(cell("v", Kind::Litres, "0.355000").unwrap(), Cell::Str("0.355".into()));
        assert_eq!(cell("n", Kind::Int, "42").unwrap(), Cell::Int(42));
        assert!(cell("n", Kind::Int, "4.2").is_err());
        assert_eq!(cell("r", Kind::Rate, "0.333333").unwrap(), Cell::Str("0.333333".into()));
        assert_eq!(cell("r", Kind::Rate, "1").unwrap(), Cell::Str("1.000000".into()));
        assert_eq!(cell("r", Kind::Rate, "0.2500000000").unwrap(), Cell::Str("0.250000".into()));
        assert!(cell("r", Kind::Rate, "0.3333333").is_err(), "a ratio is never rounded here");
        let cols: &'static [OutColumn] = &[OutColumn { name: "a", kind: Kind::Int }];
        let r = Row { columns: cols, cells: vec![Cell::Int(1)] };
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"a":1}"#);
    }
}
