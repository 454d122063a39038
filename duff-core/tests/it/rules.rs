//! One test per row rule (reason code) of the orders file, and what must be accepted.

use crate::common::*;
use duff_core::{Outcome, ReasonCode};

#[test]
fn a_valid_row_is_accepted() {
    assert_eq!(codes_of_row(&row_with("status", "created")), "");
}

#[test]
fn field_count_too_few_and_too_many() {
    let few = row_with("status", "created").rsplit_once(',').unwrap().0.to_owned();
    assert_eq!(codes_of_row(&few), "field_count");
    assert_eq!(codes_of_row(&format!("{},extra", row_with("status", "created"))), "field_count");
    // An empty extra trailing field is still one field too many.
    assert_eq!(codes_of_row(&format!("{},", row_with("status", "created"))), "field_count");
}

#[test]
fn invalid_utf8() {
    let mut csv = csv_file::<&str>(&[]).into_bytes();
    csv.extend_from_slice(row_with("client_name", "Moe\u{e9}").replace('\u{e9}', "\u{1}").as_bytes());
    // Replace the marker by a lone Latin-1 byte (0xE9), which is not UTF-8.
    let at = csv.iter().rposition(|b| *b == 1).unwrap();
    csv[at] = 0xE9;
    csv.push(b'\n');
    let (m, sink) = ingest_with(&csv, lenient()).unwrap();
    assert_eq!(m.rows_quarantined, 1);
    assert_eq!(quarantine(&sink)[0].1, "invalid_utf8");
    assert!(quarantine(&sink)[0].2.contains("byte"), "{:?}", quarantine(&sink));
}

#[test]
fn duplicate_line_in_the_same_file() {
    let r = row_with("status", "created");
    let (m, sink) = ingest(&csv_file(&[r.clone(), row_with("order_id", "9"), r.clone()]));
    assert_eq!((m.rows_read, m.rows_accepted, m.rows_quarantined), (3, 2, 1));
    let q = quarantine(&sink);
    assert_eq!((q[0].0, q[0].1.as_str()), (4, "duplicate_line"));
    // CRLF and LF versions of one line are the same line.
    let (m, _) = ingest(&format!("{HEADER}\r\n{r}\r\n{r}\n"));
    assert_eq!(m.quarantined_by_reason["duplicate_line"], 1);
}

#[test]
fn field_too_long() {
    let long = "x".repeat(duff_core::MAX_FIELD_BYTES + 1);
    assert_eq!(codes_of_row(&row_with("client_name", &long)), "field_too_long");
    let ok = "x".repeat(duff_core::MAX_FIELD_BYTES);
    assert_eq!(codes_of_row(&row_with("client_name", &ok)), "");
}

#[test]
fn bad_quoting() {
    assert_eq!(codes_of_row(&row_with("client_name", "\"Moe's\" Tavern")), "bad_quoting");
}

#[test]
fn missing_value_in_every_column() {
    for col in HEADER.split(',') {
        assert_eq!(codes_of_row(&row_with(col, "")), "missing_value", "{col}");
        assert_eq!(codes_of_row(&row_with(col, "   ")), "missing_value", "{col} (spaces)");
    }
}

#[test]
fn not_an_integer() {
    for col in ["client_id", "order_id", "product_id", "product_ccf"] {
        for v in ["12x", "12.0", "1e3", "1,000", "+5", "abc", "0x10"] {
            let row = row_with(col, if v.contains(',') { "\"1,000\"" } else { v });
            assert_eq!(codes_of_row(&row), "not_an_integer", "{col}={v}");
        }
    }
}

#[test]
fn not_a_decimal() {
    for col in ["product_price", "product_volume"] {
        for v in ["abc", "1.2.3", "NaN", "inf", "1e2", "$2.50", "2,50", "."] {
            let row = row_with(col, if v.contains(',') { "\"2,50\"" } else { v });
            assert_eq!(codes_of_row(&row), "not_a_decimal", "{col}={v}");
        }
    }
}

#[test]
fn negative() {
    for (col, v) in
        [("client_id", "-1"), ("product_ccf", "-6"), ("product_price", "-2.50"), ("product_volume", "-0.33")]
    {
        assert_eq!(codes_of_row(&row_with(col, v)), "negative", "{col}={v}");
    }
}

#[test]
fn not_positive() {
    for (col, v) in [
        ("client_id", "0"),
        ("order_id", "000"),
        ("product_id", "0"),
        ("product_ccf", "0"),
        ("product_volume", "0.000"),
    ] {
        assert_eq!(codes_of_row(&row_with(col, v)), "not_positive", "{col}={v}");
    }
    // A price of zero is allowed (>= 0).
    assert_eq!(codes_of_row(&row_with("product_price", "0")), "");
}

#[test]
fn too_many_decimals_is_rejected_never_rounded() {
    assert_eq!(codes_of_row(&row_with("product_price", "2.505")), "too_many_decimals");
    assert_eq!(codes_of_row(&row_with("product_price", "2.500")), "too_many_decimals");
    assert_eq!(codes_of_row(&row_with("product_volume", "0.3333333")), "too_many_decimals");
    assert_eq!(codes_of_row(&row_with("product_volume", "0.333333")), "");
}

#[test]
fn out_of_range() {
    assert_eq!(codes_of_row(&row_with("order_id", "9223372036854775808")), "out_of_range");
    assert_eq!(codes_of_row(&row_with("product_price", "99999999999999999")), "out_of_range");
    // Each value fits, but price × units does not fit DECIMAL(18,2).
    let row = row_with("product_price", "9999999999999999.99").replace(",6,0.33,", ",1000,0.33,");
    assert_eq!(codes_of_row(&row), "out_of_range");
}

#[test]
fn unknown_channel_and_status() {
    assert_eq!(codes_of_row(&row_with("point_of_sale_channel", "Phone")), "unknown_channel");
    assert_eq!(codes_of_row(&row_with("status", "lost")), "unknown_status");
}

#[test]
fn every_reason_code_has_a_test_above() {
    // Guard: adding a code without a test here fails this list.
    let tested = [
        "field_count",
        "invalid_utf8",
        "duplicate_line",
        "field_too_long",
        "bad_quoting",
        "missing_value",
        "not_an_integer",
        "not_a_decimal",
        "negative",
        "not_positive",
        "too_many_decimals",
        "out_of_range",
        "unknown_channel",
        "unknown_status",
    ];
    let all: Vec<&str> = ReasonCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(all, tested);
}

#[test]
fn a_row_reports_every_violation() {
    let row = "0,  ,12x,102,Duff Classic,2.505,-6,0,Phone,lost";
    let (m, sink) = ingest(&csv_file(&[row]));
    assert_eq!(m.rows_quarantined, 1);
    let codes = &quarantine(&sink)[0].1;
    for c in [
        "not_positive",
        "missing_value",
        "not_an_integer",
        "too_many_decimals",
        "negative",
        "unknown_channel",
        "unknown_status",
    ] {
        assert!(codes.split(',').any(|x| x == c), "{c} missing from {codes}");
    }
    // Each distinct code counts the row once.
    assert_eq!(m.quarantined_by_reason["not_positive"], 1);
    let msgs = &quarantine(&sink)[0].2;
    assert!(msgs.contains("client_id: '0' must be at least 1"), "{msgs}");
    assert!(msgs.contains("product_price: '2.505' has 3 decimal places"), "{msgs}");
}

#[test]
fn quarantine_keeps_line_number_and_raw_text() {
    let bad = row_with("status", "lost");
    let csv = csv_file(&[row_with("status", "created"), "\"multi\nline\",x".into(), bad.clone()]);
    let (m, sink) = ingest(&csv);
    let q = quarantine(&sink);
    assert_eq!(m.rows_read, 3);
    // The quoted newline makes the second record span lines 3-4; the bad row is on line 5.
    assert_eq!(q[0].0, 3);
    assert_eq!(q[1].0, 5);
    use arrow_array::cast::AsArray;
    let b = &sink.batches[&duff_core::Table::Quarantine][0];
    assert_eq!(b.column_by_name("raw").unwrap().as_string::<i32>().value(1), bad);
}

#[test]
fn accepted_forms_of_the_contract() {
    // Any case for enums (stored canonical), spaces trimmed, `.33` and `3.` decimals,
    // leading zeros, quoted fields with commas, doubled quotes and newlines.
    let csv = csv_file(&[" 1001 ,\"Moe's, \"\"Tavern\"\"\",5678,0102,\"Duff\nClassic\",3.,6,.33,b2b,DELIVERED"]);
    let (m, sink) = ingest(&csv);
    assert_eq!((m.rows_accepted, m.rows_quarantined), (1, 0), "{:?}", quarantine(&sink));
    assert_eq!(m.totals.amount, "18.00");
    assert_eq!(m.totals.volume_l, "1.98");
    use arrow_array::cast::AsArray;
    let b = &sink.batches[&duff_core::Table::FactOrderLine][0];
    assert_eq!(b.column_by_name("client_name").unwrap().as_string::<i32>().value(0), "Moe's, \"Tavern\"");
    assert_eq!(b.column_by_name("product_description").unwrap().as_string::<i32>().value(0), "Duff\nClassic");
    assert_eq!(b.column_by_name("channel").unwrap().as_string::<i32>().value(0), "B2B");
    assert_eq!(b.column_by_name("status").unwrap().as_string::<i32>().value(0), "delivered");
    assert_eq!(b.column_by_name("product_id").unwrap().as_primitive::<arrow_array::types::Int64Type>().value(0), 102);
}

#[test]
fn header_by_name_in_any_order_with_bom_crlf_extra_columns_and_delimiters() {
    let cols: Vec<&str> = HEADER.split(',').rev().collect();
    let vals: Vec<&str> = row_with("status", "created").leak().split(',').rev().collect();
    for d in [",", ";", "\t", "|"] {
        let csv = format!("\u{feff} {} {d}Notes\r\n{}{d}hello\r\n", cols.join(d).to_uppercase(), vals.join(d));
        let (m, _) = ingest(&csv);
        assert_eq!((m.rows_accepted, m.rows_quarantined), (1, 0), "delimiter {d:?}: {m:?}");
        assert_eq!(m.extra_columns, vec!["notes"]);
        assert_eq!(m.delimiter.as_deref(), Some(d));
        assert_eq!(m.outcome, Outcome::Published);
    }
}

#[test]
fn blank_lines_are_not_rows() {
    let (m, _) = ingest(&format!("{HEADER}\n\n{}\n\r\n\n", row_with("status", "created")));
    assert_eq!((m.rows_read, m.blank_lines), (1, 3));
}

#[test]
fn derived_amount_and_volume_are_exact() {
    let (m, _) = ingest(&csv_file(&[row_with("product_price", "0.10").replace(",6,0.33,", ",3,0.333333,")]));
    assert_eq!(m.totals.amount, "0.30");
    assert_eq!(m.totals.volume_l, "0.999999");
}
