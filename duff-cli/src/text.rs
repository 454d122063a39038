//! Plain-text tables for terminals: aligned columns, numbers right-aligned.

/// Formats `rows` under `headers` as an aligned table. Columns whose index is in
/// `right` are right-aligned (numbers). Widths count characters, not bytes.
pub fn table(headers: &[&str], rows: &[Vec<String>], right: &[usize]) -> String {
    let width = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(width(cell));
            }
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
        let parts: Vec<String> = cells
            .enumerate()
            .map(|(i, c)| {
                let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(width(c));
                if right.contains(&i) { format!("{}{c}", " ".repeat(pad)) } else { format!("{c}{}", " ".repeat(pad)) }
            })
            .collect();
        parts.join("  ").trim_end().to_owned()
    };
    let mut out = line(&mut headers.iter().copied());
    out.push('\n');
    out.push_str(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
    out.push('\n');
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::table;

    #[test]
    fn aligns_columns_and_numbers() {
        let t = table(
            &["id", "name", "sales"],
            &[vec!["1".into(), "Moe's".into(), "15.00".into()], vec!["102".into(), "Café".into(), "9.5".into()]],
            &[0, 2],
        );
        assert_eq!(t, " id  name   sales\n---  -----  -----\n  1  Moe's  15.00\n102  Café     9.5\n");
    }
}
