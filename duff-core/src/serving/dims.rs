//! The current row of the client and product dimensions: the names the reports show.
//!
//! A client's name is the one on the latest version of any order line that names the
//! client, whatever a report's filters; its first and last sighting are the instants of the
//! earliest and latest such versions. A product's description is the one on the latest
//! version of any of its lines (which is always one of its current lines, since the product
//! is part of the line's key). Every value is a maximum or a minimum over the versions ever
//! published, so folding files in any order gives the same dimensions.

use super::files::{FileTable, Version};
use super::line::Line;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What the lake says of a client now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRow {
    /// The name on the client's latest line version.
    pub name: Arc<str>,
    /// That version.
    pub version: Version,
    /// `ingested_at` of the client's earliest line version.
    pub first_seen_micros: i64,
    /// `ingested_at` of the client's latest line version.
    pub last_seen_micros: i64,
}

/// What the lake says of a product now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductRow {
    /// The description on the product's latest line version.
    pub description: Arc<str>,
    /// That version.
    pub version: Version,
}

/// The current rows of the client and product dimensions, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dims {
    /// Clients by `client_id`.
    pub clients: BTreeMap<i64, ClientRow>,
    /// Products by `product_id`.
    pub products: BTreeMap<i64, ProductRow>,
}

impl Dims {
    /// No client, no product.
    pub fn new() -> Dims {
        Dims::default()
    }

    /// Takes one line version into account (winning or not: a version a later one
    /// replaced still says when and how the client was seen).
    pub fn observe(&mut self, files: &FileTable, v: &Line) {
        let at = files.instant(v.version);
        self.observe_client(
            files,
            v.client_id,
            ClientRow { name: v.client_name.clone(), version: v.version, first_seen_micros: at, last_seen_micros: at },
        );
        self.observe_product(
            files,
            v.key.product_id,
            ProductRow { description: v.product_description.clone(), version: v.version },
        );
    }

    /// Folds what another observation says of a client.
    pub fn observe_client(&mut self, files: &FileTable, id: i64, row: ClientRow) {
        match self.clients.get_mut(&id) {
            None => {
                self.clients.insert(id, row);
            }
            Some(c) => {
                c.first_seen_micros = c.first_seen_micros.min(row.first_seen_micros);
                c.last_seen_micros = c.last_seen_micros.max(row.last_seen_micros);
                if files.cmp(row.version, c.version) == Ordering::Greater {
                    c.name = row.name;
                    c.version = row.version;
                }
            }
        }
    }

    /// Folds what another observation says of a product.
    pub fn observe_product(&mut self, files: &FileTable, id: i64, row: ProductRow) {
        match self.products.get_mut(&id) {
            None => {
                self.products.insert(id, row);
            }
            Some(p) if files.cmp(row.version, p.version) == Ordering::Greater => *p = row,
            Some(_) => {}
        }
    }

    /// Folds another state's dimensions (both over the same file table).
    pub fn merge(&mut self, files: &FileTable, other: &Dims) {
        for (id, c) in &other.clients {
            self.observe_client(files, *id, c.clone());
        }
        for (id, p) in &other.products {
            self.observe_product(files, *id, p.clone());
        }
    }

    /// A client's current name (empty for an unknown client).
    pub fn client_name(&self, id: i64) -> &str {
        self.clients.get(&id).map_or("", |c| &c.name)
    }

    /// A product's current description (empty for an unknown product).
    pub fn product_description(&self, id: i64) -> &str {
        self.products.get(&id).map_or("", |p| &p.description)
    }
}
