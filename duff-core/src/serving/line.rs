//! An order line in its current (latest) version, and the rule that folds versions.

use super::files::{FileTable, Version};
use crate::hash::{IntBuild, IntMap, same_bytes};
use crate::state::{FactRow, LineKey};
use crate::{Channel, Status};
use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::Arc;

/// One order line `(order_id, product_id)` in its latest version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The grain.
    pub key: LineKey,
    /// `client_id` of the latest version.
    pub client_id: i64,
    /// `client_name` on the latest version.
    pub client_name: Arc<str>,
    /// `product_description` on the latest version.
    pub product_description: Arc<str>,
    /// Unit price, in cents.
    pub unit_price: i64,
    /// Units (`product_ccf`).
    pub units: i64,
    /// Litres per unit, in millionths.
    pub unit_volume: i64,
    /// `amount`, in cents.
    pub amount: i64,
    /// `volume_l`, in millionths of a litre.
    pub volume: i64,
    /// Channel.
    pub channel: Channel,
    /// Status.
    pub status: Status,
    /// The latest version: its file and line.
    pub version: Version,
    /// `ingested_at` of the earliest version of the line.
    pub first_seen_micros: i64,
}

impl Line {
    /// The line as one version read from a fact row of the file `file` (seq), ingested at
    /// `instant`; names are shared through `names`.
    pub fn from_fact(row: &FactRow<'_>, file: u32, instant: i64, names: &mut Names) -> Line {
        Line {
            key: row.key,
            client_id: row.client_id,
            client_name: names.of_id(TextOf::Client, row.client_id, row.client_name),
            product_description: names.of_id(TextOf::Product, row.key.product_id, row.product_description),
            unit_price: row.unit_price,
            units: row.units,
            unit_volume: row.unit_volume,
            amount: row.amount,
            volume: row.volume,
            channel: row.channel,
            status: row.status,
            version: Version { file, line: row.line },
            first_seen_micros: instant,
        }
    }

    /// Folds `other`, another version of the same line: the later version's values win and
    /// the earliest first sighting is kept. Associative, commutative and idempotent, so
    /// versions folded in any order and grouping give the same line.
    pub fn absorb(&mut self, other: &Line, files: &FileTable) {
        let first = self.first_seen_micros.min(other.first_seen_micros);
        if files.cmp(other.version, self.version) == Ordering::Greater {
            *self = other.clone();
        }
        self.first_seen_micros = first;
    }
}

/// Shared text values (names and descriptions repeat across many lines).
#[derive(Debug, Default, Clone)]
pub struct Names {
    /// One copy of every text.
    texts: HashSet<Arc<str>, IntBuild>,
    /// The text last read for each client and for each product: a row naming its client or
    /// product as the previous one did is matched by an id lookup and one comparison, not
    /// by hashing the text.
    by_id: [IntMap<i64, Arc<str>>; 2],
}

/// Whose text [`Names::of_id`] reads.
#[derive(Debug, Clone, Copy)]
enum TextOf {
    Client = 0,
    Product = 1,
}

impl Names {
    /// The shared copy of `s`.
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(v) = self.texts.get(s) {
            return v.clone();
        }
        let v: Arc<str> = Arc::from(s);
        self.texts.insert(v.clone());
        v
    }

    /// The shared copy of `s`, the text of client or product `id`.
    fn of_id(&mut self, of: TextOf, id: i64, s: &str) -> Arc<str> {
        let by_id = &mut self.by_id[of as usize];
        if let Some(v) = by_id.get(&id)
            && same_bytes(v.as_bytes(), s.as_bytes())
        {
            return v.clone();
        }
        let v = self.get(s);
        self.by_id[of as usize].insert(id, v.clone());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_read_by_id_is_the_rows_text_shared() {
        let mut names = Names::default();
        let moe = names.of_id(TextOf::Client, 1, "Moe's");
        assert_eq!(&*moe, "Moe's");
        // The same client renamed, then named as before: each time the row's text.
        assert_eq!(&*names.of_id(TextOf::Client, 1, "Moe's Tavern"), "Moe's Tavern");
        let again = names.of_id(TextOf::Client, 1, "Moe's");
        assert!(Arc::ptr_eq(&again, &moe));
        // One copy per text, whatever names it: another client, a product, a plain lookup.
        assert!(Arc::ptr_eq(&names.of_id(TextOf::Client, 2, "Moe's"), &moe));
        assert!(Arc::ptr_eq(&names.of_id(TextOf::Product, 1, "Moe's"), &moe));
        assert!(Arc::ptr_eq(&names.get("Moe's"), &moe));
        // Clients and products are apart: product 1 is not client 1.
        assert_eq!(&*names.of_id(TextOf::Product, 1, "Duff"), "Duff");
        assert_eq!(&*names.of_id(TextOf::Client, 1, "Moe's"), "Moe's");
    }
}
