//! An order line in its current (latest) version, and the rule that folds versions.

use super::files::{FileTable, Version};
use crate::hash::IntBuild;
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
            client_name: names.get(row.client_name),
            product_description: names.get(row.product_description),
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
pub struct Names(HashSet<Arc<str>, IntBuild>);

impl Names {
    /// The shared copy of `s`.
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(v) = self.0.get(s) {
            return v.clone();
        }
        let v: Arc<str> = Arc::from(s);
        self.0.insert(v.clone());
        v
    }
}
