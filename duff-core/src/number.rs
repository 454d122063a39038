//! Exact parsing of plain decimal numbers from bytes, into scaled integers.
//!
//! The input contract allows ASCII digits with at most one decimal point (`2.5`, `3`,
//! `.33`, `3.`): no sign, no thousands separator, no exponent, no `NaN`/`inf`. A value with
//! more decimal places than allowed is rejected, never rounded. Parsing never allocates.

use rust_decimal::Decimal;

/// Why a field is not an acceptable number. Mapped to a [`crate::ReasonCode`] by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumError {
    /// The field is empty.
    Empty,
    /// A minus sign followed by an otherwise valid number.
    Negative,
    /// Not plain decimal notation.
    NotANumber,
    /// An integer column holding a decimal point (`12.0`).
    Fraction,
    /// More decimal places than the column allows.
    TooManyDecimals(u32),
    /// Too large for the column type.
    OutOfRange,
}

/// Largest mantissa of a `DECIMAL(18, s)` value.
pub(crate) const MAX_DECIMAL18: i64 = 999_999_999_999_999_999;

/// Parses a non-negative integer made of ASCII digits only (leading zeros allowed).
pub(crate) fn parse_int(b: &[u8]) -> Result<i64, NumError> {
    if b.is_empty() {
        return Err(NumError::Empty);
    }
    let mut v: i64 = 0;
    for (i, &c) in b.iter().enumerate() {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return Err(classify_bad(b, i, true));
        }
        v = match v.checked_mul(10).and_then(|v| v.checked_add(i64::from(d))) {
            Some(v) => v,
            None => return Err(overflow_or_bad(&b[i..], true)),
        };
    }
    Ok(v)
}

/// Parses a non-negative decimal with at most `scale` fractional digits into a mantissa at
/// exactly that scale (`"2.5"` at scale 2 is `250`). The mantissa must fit `DECIMAL(18, scale)`.
pub(crate) fn parse_decimal(b: &[u8], scale: u32) -> Result<i64, NumError> {
    if b.is_empty() {
        return Err(NumError::Empty);
    }
    let mut v: i64 = 0;
    let mut digits = 0usize;
    let mut frac: Option<u32> = None;
    for (i, &c) in b.iter().enumerate() {
        if c == b'.' {
            if frac.is_some() {
                return Err(NumError::NotANumber);
            }
            frac = Some(0);
            continue;
        }
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return Err(classify_bad(b, i, false));
        }
        digits += 1;
        if let Some(f) = frac.as_mut() {
            *f += 1;
            if *f > scale {
                // Keep scanning so that `1.2x3` is reported as not a number, not as too precise.
                return match b[i..].iter().all(u8::is_ascii_digit) {
                    true => Err(NumError::TooManyDecimals(*f + (b.len() - i - 1) as u32)),
                    false => Err(NumError::NotANumber),
                };
            }
        }
        v = match v.checked_mul(10).and_then(|v| v.checked_add(i64::from(d))) {
            Some(v) => v,
            None => return Err(overflow_or_bad(&b[i..], false)),
        };
    }
    if digits == 0 {
        return Err(NumError::NotANumber);
    }
    let places = frac.unwrap_or(0);
    let mut m = v;
    for _ in places..scale {
        m = m.checked_mul(10).ok_or(NumError::OutOfRange)?;
    }
    if m > MAX_DECIMAL18 {
        return Err(NumError::OutOfRange);
    }
    Ok(m)
}

/// Decides what a field with a non-digit at `at` is: a negative number or garbage.
fn classify_bad(b: &[u8], at: usize, integer: bool) -> NumError {
    if at == 0 && b[0] == b'-' && b.len() > 1 {
        return if is_plain(&b[1..], !integer) { NumError::Negative } else { NumError::NotANumber };
    }
    if integer && b[at] == b'.' {
        // `12.0` or `.5`: a plain decimal, but not a whole number.
        let frac_ok = b[at + 1..].iter().all(u8::is_ascii_digit);
        let int_ok = b[..at].iter().all(u8::is_ascii_digit);
        if frac_ok && int_ok && b.len() > 1 {
            return NumError::Fraction;
        }
    }
    NumError::NotANumber
}

/// Digits with (when `allow_dot`) at most one decimal point, and at least one digit.
fn is_plain(b: &[u8], allow_dot: bool) -> bool {
    let mut dots = 0;
    let mut digits = 0;
    for &c in b {
        match c {
            b'0'..=b'9' => digits += 1,
            b'.' if allow_dot => dots += 1,
            _ => return false,
        }
    }
    digits > 0 && dots <= 1
}

/// On overflow: still a number (out of range) if the rest is digits, else garbage.
fn overflow_or_bad(rest: &[u8], integer: bool) -> NumError {
    let mut seen_dot = false;
    for &c in rest {
        if c == b'.' && !integer && !seen_dot {
            seen_dot = true;
        } else if !c.is_ascii_digit() {
            return NumError::NotANumber;
        }
    }
    NumError::OutOfRange
}

/// Formats a scaled integer as an exact decimal string (`1500`, scale 2 → `"15.00"`).
pub fn format_scaled(mantissa: i128, scale: u32) -> String {
    Scaled { mantissa, scale }.to_string()
}

/// Formats litres: exact, trailing zeros dropped down to 2 places (`3960000` at scale 6
/// is `"3.96"`, `24000000` is `"24.00"`, `355000` is `"0.355"`).
pub fn format_litres(mantissa: i128) -> String {
    Litres(mantissa).to_string()
}

/// A scaled integer shown as an exact decimal with `scale` places (`1500` at scale 2 is
/// `15.00`, `-5` is `-0.05`): what [`format_scaled`] returns, written without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scaled {
    /// The value times 10^`scale`.
    pub mantissa: i128,
    /// Decimal places.
    pub scale: u32,
}

impl std::fmt::Display for Scaled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_scaled(f, self.mantissa, self.scale, self.scale)
    }
}

/// Litres in millionths shown as [`format_litres`] does, without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Litres(pub i128);

impl std::fmt::Display for Litres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_scaled(f, self.0, crate::domain::VOLUME_SCALE, 2)
    }
}

/// Writes `mantissa` at `scale` places, dropping trailing zeros down to `min_places`.
fn write_scaled(f: &mut impl std::fmt::Write, mantissa: i128, scale: u32, min_places: u32) -> std::fmt::Result {
    fn text(b: &[u8]) -> Result<&str, std::fmt::Error> {
        std::str::from_utf8(b).map_err(|_| std::fmt::Error)
    }
    // The digits of |mantissa|, at the end of the buffer (39 at most).
    let mut buf = [0u8; 40];
    let mut at = buf.len();
    let mut v = mantissa.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let digits = &buf[at..];
    if mantissa < 0 {
        f.write_char('-')?;
    }
    let scale = scale as usize;
    if scale == 0 {
        return f.write_str(text(digits)?);
    }
    // The places: zeros (when the value is below 1), then the digits after the point.
    let (int, mut frac, mut zeros) = if digits.len() > scale {
        let (i, fr) = digits.split_at(digits.len() - scale);
        (i, fr, 0)
    } else {
        (&b"0"[..], digits, scale - digits.len())
    };
    // Trailing zeros dropped down to `min_places`.
    let min_places = min_places as usize;
    while zeros + frac.len() > min_places && frac.last() == Some(&b'0') {
        frac = &frac[..frac.len() - 1];
    }
    if frac.is_empty() {
        zeros = zeros.min(min_places);
    }
    f.write_str(text(int)?)?;
    if zeros + frac.len() == 0 {
        return Ok(());
    }
    f.write_char('.')?;
    for _ in 0..zeros {
        f.write_char('0')?;
    }
    f.write_str(text(frac)?)
}

/// Converts a scaled integer to a [`Decimal`] (sums of money and volume).
///
/// Returns `None` when the value does not fit `rust_decimal`'s 96-bit mantissa.
pub fn to_decimal(mantissa: i128, scale: u32) -> Option<Decimal> {
    Decimal::try_from_i128_with_scale(mantissa, scale).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(parse_int(b"1001"), Ok(1001));
        assert_eq!(parse_int(b"007"), Ok(7));
        assert_eq!(parse_int(b""), Err(NumError::Empty));
        assert_eq!(parse_int(b"12.0"), Err(NumError::Fraction));
        assert_eq!(parse_int(b"-6"), Err(NumError::Negative));
        assert_eq!(parse_int(b"-x"), Err(NumError::NotANumber));
        assert_eq!(parse_int(b"-"), Err(NumError::NotANumber));
        assert_eq!(parse_int(b"+6"), Err(NumError::NotANumber));
        assert_eq!(parse_int(b"1,000"), Err(NumError::NotANumber));
        assert_eq!(parse_int(b"1e3"), Err(NumError::NotANumber));
        assert_eq!(parse_int(b"12x"), Err(NumError::NotANumber));
        assert_eq!(parse_int(b"."), Err(NumError::NotANumber));
        assert_eq!(parse_int(b"9223372036854775807"), Ok(i64::MAX));
        assert_eq!(parse_int(b"9223372036854775808"), Err(NumError::OutOfRange));
        assert_eq!(parse_int(b"99999999999999999999x"), Err(NumError::NotANumber));
    }

    #[test]
    fn decimals_exact_scale() {
        assert_eq!(parse_decimal(b"2.50", 2), Ok(250));
        assert_eq!(parse_decimal(b"2.5", 2), Ok(250));
        assert_eq!(parse_decimal(b"3", 2), Ok(300));
        assert_eq!(parse_decimal(b".33", 6), Ok(330_000));
        assert_eq!(parse_decimal(b"3.", 2), Ok(300));
        assert_eq!(parse_decimal(b"0", 2), Ok(0));
        assert_eq!(parse_decimal(b"2.505", 2), Err(NumError::TooManyDecimals(3)));
        assert_eq!(parse_decimal(b"2.500", 2), Err(NumError::TooManyDecimals(3)));
        assert_eq!(parse_decimal(b"1.2x3", 2), Err(NumError::NotANumber));
        assert_eq!(parse_decimal(b"-2.50", 2), Err(NumError::Negative));
        assert_eq!(parse_decimal(b"1.2.3", 2), Err(NumError::NotANumber));
        assert_eq!(parse_decimal(b".", 2), Err(NumError::NotANumber));
        assert_eq!(parse_decimal(b"NaN", 2), Err(NumError::NotANumber));
        assert_eq!(parse_decimal(b"inf", 2), Err(NumError::NotANumber));
        assert_eq!(parse_decimal(b"1e2", 2), Err(NumError::NotANumber));
        assert_eq!(parse_decimal(b"$2", 2), Err(NumError::NotANumber));
        assert_eq!(parse_decimal(b"9999999999999999.99", 2), Ok(MAX_DECIMAL18));
        assert_eq!(parse_decimal(b"10000000000000000", 2), Err(NumError::OutOfRange));
        assert_eq!(parse_decimal(b"", 2), Err(NumError::Empty));
    }

    #[test]
    fn formatting_keeps_scale() {
        assert_eq!(format_scaled(1500, 2), "15.00");
        assert_eq!(format_scaled(198, 2), "1.98");
        assert_eq!(format_scaled(3_960_000, 6), "3.960000");
        assert_eq!(format_scaled(5, 2), "0.05");
        assert_eq!(format_scaled(i128::MAX, 2).len(), 40);
        assert_eq!(format_scaled(12_345, 0), "12345");
        assert_eq!(format_litres(3_960_000), "3.96");
        assert_eq!(format_litres(24_000_000), "24.00");
        assert_eq!(format_litres(355_000), "0.355");
        assert_eq!(format_litres(1), "0.000001");
        assert_eq!(format_litres(0), "0.00");
        assert_eq!(format_litres(-1), "-0.000001");
        assert_eq!(format_litres(-20_000), "-0.02");
        assert_eq!(format_scaled(-35, 2), "-0.35");
        assert_eq!(format_scaled(0, 3), "0.000");
    }

    proptest::proptest! {
        /// The formatter writes what `rust_decimal` writes, at every scale it has.
        #[test]
        fn formatting_equals_rust_decimal(m in proptest::num::i64::ANY, small in -100_000i64..100_000, scale in 0u32..=12) {
            for m in [i128::from(m), i128::from(small)] {
                let want = Decimal::try_from_i128_with_scale(m, scale).unwrap().to_string();
                proptest::prop_assert_eq!(format_scaled(m, scale), want);
            }
        }

        /// Litres: the exact value at 6 places, with trailing zeros dropped down to 2.
        #[test]
        fn litres_drop_trailing_zeros_down_to_two_places(m in -10_000_000_000i64..10_000_000_000) {
            let mut want = Decimal::try_from_i128_with_scale(i128::from(m), 6).unwrap().to_string();
            let keep = want.find('.').unwrap() + 3;
            while want.len() > keep && want.ends_with('0') {
                want.pop();
            }
            proptest::prop_assert_eq!(format_litres(i128::from(m)), want);
        }
    }
}
