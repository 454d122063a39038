//! Row validation: from the fields of one record to an [`OrderLine`] or every [`Reason`]
//! the row breaks. Numbers are parsed from bytes; nothing is allocated for a valid row
//! unless a text field holds doubled quotes.

use crate::columns::{Column, Header};
use crate::domain::{Channel, OrderLine, Reason, ReasonCode, Status};
use crate::number::{MAX_DECIMAL18, NumError, parse_decimal, parse_int};
use crate::reader::{Field, unescape_into};
use std::borrow::Cow;

/// Trims ASCII spaces and tabs around a value.
#[inline]
pub(crate) fn trim(b: &[u8]) -> &[u8] {
    let mut s = 0;
    let mut e = b.len();
    while s < e && (b[s] == b' ' || b[s] == b'\t') {
        s += 1;
    }
    while e > s && (b[e - 1] == b' ' || b[e - 1] == b'\t') {
        e -= 1;
    }
    &b[s..e]
}

/// A value quoted in a message: lossy UTF-8, at most 40 characters.
pub(crate) fn shown(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let mut out: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

/// The value of field `f` of the record in `buf`: unescaped (into `scratch`) when needed,
/// then trimmed.
fn value<'a>(buf: &'a [u8], f: &Field, scratch: &'a mut Vec<u8>) -> &'a [u8] {
    if f.escaped {
        unescape_into(&buf[f.start..f.end], scratch);
        trim(scratch)
    } else {
        trim(&buf[f.start..f.end])
    }
}

/// The part of the buffer already proved valid UTF-8: `text` starts at `buf[base]`. A text
/// field inside it is sliced from it (an O(1) boundary check) instead of being checked again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TextBlock<'a> {
    pub(crate) text: &'a str,
    pub(crate) base: usize,
}

/// Validates one record whose field count matches the header. Pushes every violated rule
/// to `reasons` and returns the line when there is none.
pub(crate) fn validate<'a>(
    buf: &'a [u8],
    checked: Option<&TextBlock<'a>>,
    fields: &[Field],
    header: &Header,
    reasons: &mut Vec<Reason>,
) -> Option<OrderLine<'a>> {
    let before = reasons.len();
    let field = |c: Column| &fields[header.field_of(c)];
    let mut scratch = Vec::new();

    let client_id = id(buf, field(Column::ClientId), Column::ClientId, 1, reasons);
    let order_id = id(buf, field(Column::OrderId), Column::OrderId, 1, reasons);
    let product_id = id(buf, field(Column::ProductId), Column::ProductId, 1, reasons);
    let units = id(buf, field(Column::ProductCcf), Column::ProductCcf, 1, reasons);
    let unit_price = decimal(buf, field(Column::ProductPrice), Column::ProductPrice, 2, false, reasons);
    let unit_volume = decimal(buf, field(Column::ProductVolume), Column::ProductVolume, 6, true, reasons);
    let client_name = text(buf, checked, field(Column::ClientName), Column::ClientName, reasons);
    let product_description =
        text(buf, checked, field(Column::ProductDescription), Column::ProductDescription, reasons);

    let ch = value(buf, field(Column::PointOfSaleChannel), &mut scratch);
    let channel = Channel::parse(ch);
    if channel.is_none() {
        reasons.push(enum_reason(ch, Column::PointOfSaleChannel, ReasonCode::UnknownChannel, "Retail, Online, B2B"));
    }
    let st = value(buf, field(Column::Status), &mut scratch);
    let status = Status::parse(st);
    if status.is_none() {
        reasons.push(enum_reason(st, Column::Status, ReasonCode::UnknownStatus, "created, delivered, broken"));
    }

    let (Some(client_id), Some(order_id), Some(product_id), Some(units), Some(unit_price), Some(unit_volume)) =
        (client_id, order_id, product_id, units, unit_price, unit_volume)
    else {
        return None;
    };
    let amount = derived(unit_price, units, "amount", "product_price × product_ccf", reasons);
    let volume = derived(unit_volume, units, "volume_l", "product_volume × product_ccf", reasons);
    if reasons.len() > before {
        return None;
    }
    Some(OrderLine {
        client_id,
        client_name: client_name?,
        order_id,
        product_id,
        product_description: product_description?,
        unit_price,
        units,
        unit_volume,
        channel: channel?,
        status: status?,
        amount: amount?,
        volume: volume?,
    })
}

fn enum_reason(v: &[u8], column: Column, code: ReasonCode, allowed: &str) -> Reason {
    if v.is_empty() {
        Reason::new(ReasonCode::MissingValue, Some(column), "is empty".into())
    } else {
        Reason::new(code, Some(column), format!("'{}' is not one of {allowed}", shown(v)))
    }
}

/// An integer column that must be at least `min` (1 for ids and units).
#[inline]
fn id(buf: &[u8], f: &Field, column: Column, min: i64, reasons: &mut Vec<Reason>) -> Option<i64> {
    if !f.escaped
        && let Ok(n) = parse_int(trim(&buf[f.start..f.end]))
        && n >= min
    {
        return Some(n);
    }
    let mut scratch = Vec::new();
    let v = value(buf, f, &mut scratch);
    let (code, message) = match parse_int(v) {
        Ok(n) if n >= min => return Some(n),
        Ok(_) => (ReasonCode::NotPositive, format!("'{}' must be at least {min}", shown(v))),
        Err(NumError::Empty) => (ReasonCode::MissingValue, "is empty".to_owned()),
        Err(NumError::Negative) => (ReasonCode::Negative, format!("'{}' is negative", shown(v))),
        Err(NumError::OutOfRange) => (ReasonCode::OutOfRange, format!("'{}' is larger than {}", shown(v), i64::MAX)),
        Err(_) => (ReasonCode::NotAnInteger, format!("'{}' is not a whole number (digits only)", shown(v))),
    };
    reasons.push(Reason::new(code, Some(column), message));
    None
}

/// A decimal column with at most `scale` places; `positive` requires > 0 (else >= 0).
fn decimal(
    buf: &[u8],
    f: &Field,
    column: Column,
    scale: u32,
    positive: bool,
    reasons: &mut Vec<Reason>,
) -> Option<i64> {
    if !f.escaped
        && let Ok(n) = parse_decimal(trim(&buf[f.start..f.end]), scale)
        && (n > 0 || !positive)
    {
        return Some(n);
    }
    let mut scratch = Vec::new();
    let v = value(buf, f, &mut scratch);
    let (code, message) = match parse_decimal(v, scale) {
        Ok(0) if positive => (ReasonCode::NotPositive, format!("'{}' must be greater than 0", shown(v))),
        Ok(n) => return Some(n),
        Err(NumError::Empty) => (ReasonCode::MissingValue, "is empty".to_owned()),
        Err(NumError::Negative) => (ReasonCode::Negative, format!("'{}' is negative", shown(v))),
        Err(NumError::TooManyDecimals(p)) => (
            ReasonCode::TooManyDecimals,
            format!("'{}' has {p} decimal places, at most {scale} are allowed (values are never rounded)", shown(v)),
        ),
        Err(NumError::OutOfRange) => {
            (ReasonCode::OutOfRange, format!("'{}' does not fit DECIMAL(18,{scale})", shown(v)))
        }
        Err(_) => (ReasonCode::NotADecimal, format!("'{}' is not a plain decimal number", shown(v))),
    };
    reasons.push(Reason::new(code, Some(column), message));
    None
}

fn text<'a>(
    buf: &'a [u8],
    checked: Option<&TextBlock<'a>>,
    f: &Field,
    column: Column,
    reasons: &mut Vec<Reason>,
) -> Option<Cow<'a, str>> {
    if !f.escaped {
        let raw = &buf[f.start..f.end];
        let t = trim(raw);
        if t.is_empty() {
            reasons.push(Reason::new(ReasonCode::MissingValue, Some(column), "is empty".into()));
            return None;
        }
        // Where the trimmed value sits in the buffer (trimming removed ASCII only).
        let start = f.start + (t.as_ptr() as usize - raw.as_ptr() as usize);
        let end = start + t.len();
        if let Some(s) = checked.and_then(|c| c.text.get(start.checked_sub(c.base)?..end.checked_sub(c.base)?)) {
            return Some(Cow::Borrowed(s));
        }
        // Invalid UTF-8 is reported once for the whole row by the caller.
        return std::str::from_utf8(t).ok().map(Cow::Borrowed);
    }
    let mut s = Vec::new();
    unescape_into(&buf[f.start..f.end], &mut s);
    let v = trim(&s).to_vec();
    if v.is_empty() {
        reasons.push(Reason::new(ReasonCode::MissingValue, Some(column), "is empty".into()));
        return None;
    }
    String::from_utf8(v).ok().map(Cow::Owned)
}

fn derived(per_unit: i64, units: i64, name: &str, formula: &str, reasons: &mut Vec<Reason>) -> Option<i64> {
    match per_unit.checked_mul(units) {
        Some(v) if v <= MAX_DECIMAL18 => Some(v),
        _ => {
            reasons.push(Reason::new(
                ReasonCode::OutOfRange,
                None,
                format!("{name} = {formula} is too large for DECIMAL(18)"),
            ));
            None
        }
    }
}
