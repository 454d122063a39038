//! The domain's vocabulary: the validated order line, its channel and status, the reasons a
//! row is quarantined, and the scales of money and litres.

use crate::columns::Column;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// Point-of-sale channel. Parsed in any letter case, stored canonical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Channel {
    /// Direct sales to retailers.
    Retail,
    /// Online orders.
    Online,
    /// Business-to-business partnerships.
    B2B,
}

impl Channel {
    /// Every channel, in sort order.
    pub const ALL: [Channel; 3] = [Channel::Retail, Channel::Online, Channel::B2B];

    /// The canonical spelling (`Retail`, `Online`, `B2B`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Retail => "Retail",
            Channel::Online => "Online",
            Channel::B2B => "B2B",
        }
    }

    /// Parses any letter case of a canonical spelling.
    #[inline]
    pub fn parse(b: &[u8]) -> Option<Channel> {
        // Dispatch on the first letter: one candidate compared, byte by byte (no call).
        let c = match b.first().map(u8::to_ascii_lowercase) {
            Some(b'r') => Channel::Retail,
            Some(b'o') => Channel::Online,
            Some(b'b') => Channel::B2B,
            _ => return None,
        };
        crate::hash::eq_ignore_case_inline(b, c.as_str().as_bytes()).then_some(c)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Order status. Parsed in any letter case, stored lower-case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Status {
    /// The order has been created.
    Created,
    /// The order was delivered.
    Delivered,
    /// The order was damaged or had issues during delivery.
    Broken,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 3] = [Status::Created, Status::Delivered, Status::Broken];

    /// The stored spelling (`created`, `delivered`, `broken`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Delivered => "delivered",
            Status::Broken => "broken",
        }
    }

    /// Parses any letter case.
    #[inline]
    pub fn parse(b: &[u8]) -> Option<Status> {
        // Dispatch on the first letter: one candidate compared, byte by byte (no call).
        let s = match b.first().map(u8::to_ascii_lowercase) {
            Some(b'c') => Status::Created,
            Some(b'd') => Status::Delivered,
            Some(b'b') => Status::Broken,
            _ => return None,
        };
        crate::hash::eq_ignore_case_inline(b, s.as_str().as_bytes()).then_some(s)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Scale of money values (`product_price`, `amount`): cents.
pub const MONEY_SCALE: u32 = 2;
/// Scale of volumes in litres (`product_volume`, `volume_l`).
pub const VOLUME_SCALE: u32 = 6;

/// A validated order line. Money and volume are scaled integers (exact).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine<'a> {
    /// `client_id` (> 0).
    pub client_id: i64,
    /// Trimmed `client_name`.
    pub client_name: Cow<'a, str>,
    /// `order_id` (> 0).
    pub order_id: i64,
    /// `product_id` (> 0).
    pub product_id: i64,
    /// Trimmed `product_description`.
    pub product_description: Cow<'a, str>,
    /// Unit price in cents ([`MONEY_SCALE`]).
    pub unit_price: i64,
    /// `product_ccf`, units ordered (>= 1).
    pub units: i64,
    /// Litres per unit in millionths ([`VOLUME_SCALE`]).
    pub unit_volume: i64,
    /// Channel.
    pub channel: Channel,
    /// Status.
    pub status: Status,
    /// `unit_price × units`, in cents.
    pub amount: i64,
    /// `unit_volume × units`, in millionths of a litre.
    pub volume: i64,
}

/// Why a row was quarantined: a stable machine-readable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReasonCode {
    /// The row has more or fewer fields than the header.
    FieldCount,
    /// The row is not valid UTF-8.
    InvalidUtf8,
    /// The row repeats, byte for byte, an earlier row of the same file.
    DuplicateLine,
    /// A field is longer than 64 KiB.
    FieldTooLong,
    /// Text follows the closing quote of a quoted field.
    BadQuoting,
    /// A required value is empty (after trimming).
    MissingValue,
    /// An integer column holds something else than digits.
    NotAnInteger,
    /// A decimal column holds something else than plain decimal notation.
    NotADecimal,
    /// A number with a minus sign.
    Negative,
    /// Zero where the column requires more (ids and volume > 0, units >= 1).
    NotPositive,
    /// More decimal places than the column allows (never rounded).
    TooManyDecimals,
    /// Too large for the column's type, or the derived amount/volume overflows.
    OutOfRange,
    /// Not one of Retail, Online, B2B.
    UnknownChannel,
    /// Not one of created, delivered, broken.
    UnknownStatus,
}

impl ReasonCode {
    /// Every code, in a stable order.
    pub const ALL: [ReasonCode; 14] = [
        ReasonCode::FieldCount,
        ReasonCode::InvalidUtf8,
        ReasonCode::DuplicateLine,
        ReasonCode::FieldTooLong,
        ReasonCode::BadQuoting,
        ReasonCode::MissingValue,
        ReasonCode::NotAnInteger,
        ReasonCode::NotADecimal,
        ReasonCode::Negative,
        ReasonCode::NotPositive,
        ReasonCode::TooManyDecimals,
        ReasonCode::OutOfRange,
        ReasonCode::UnknownChannel,
        ReasonCode::UnknownStatus,
    ];

    /// The code as written in manifests and the quarantine table.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReasonCode::FieldCount => "field_count",
            ReasonCode::InvalidUtf8 => "invalid_utf8",
            ReasonCode::DuplicateLine => "duplicate_line",
            ReasonCode::FieldTooLong => "field_too_long",
            ReasonCode::BadQuoting => "bad_quoting",
            ReasonCode::MissingValue => "missing_value",
            ReasonCode::NotAnInteger => "not_an_integer",
            ReasonCode::NotADecimal => "not_a_decimal",
            ReasonCode::Negative => "negative",
            ReasonCode::NotPositive => "not_positive",
            ReasonCode::TooManyDecimals => "too_many_decimals",
            ReasonCode::OutOfRange => "out_of_range",
            ReasonCode::UnknownChannel => "unknown_channel",
            ReasonCode::UnknownStatus => "unknown_status",
        }
    }

    /// Parses [`ReasonCode::as_str`].
    pub fn parse(s: &str) -> Option<ReasonCode> {
        ReasonCode::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One violated rule of a quarantined row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// Machine-readable code.
    pub code: ReasonCode,
    /// The column concerned, when the rule is about one column.
    pub column: Option<Column>,
    /// A message for people, quoting the offending value where useful.
    pub message: String,
}

impl Reason {
    pub(crate) fn new(code: ReasonCode, column: Option<Column>, message: String) -> Self {
        Reason { code, column, message }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(c) => write!(f, "{c}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_parse_any_case_and_store_canonical() {
        assert_eq!(Channel::parse(b"b2b"), Some(Channel::B2B));
        assert_eq!(Channel::parse(b"RETAIL"), Some(Channel::Retail));
        assert_eq!(Channel::parse(b"Phone"), None);
        assert_eq!(Status::parse(b"Delivered"), Some(Status::Delivered));
        assert_eq!(Status::parse(b"lost"), None);
        assert_eq!(Status::Broken.as_str(), "broken");
    }

    #[test]
    fn reason_codes_roundtrip() {
        for c in ReasonCode::ALL {
            assert_eq!(ReasonCode::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{}\"", c.as_str()));
        }
    }
}
