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
use crate::hash::IntMap;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::collections::hash_map::Entry as HashEntry;
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

impl ClientRow {
    /// The row of a client seen on one line version, at `at`.
    fn seen(v: &Line, at: i64) -> ClientRow {
        ClientRow { name: v.client_name.clone(), version: v.version, first_seen_micros: at, last_seen_micros: at }
    }

    /// Folds another sighting of the client: `name` on `version`, seen from `first` to
    /// `last`.
    fn absorb(&mut self, files: &FileTable, name: &Arc<str>, version: Version, first: i64, last: i64) {
        self.first_seen_micros = self.first_seen_micros.min(first);
        self.last_seen_micros = self.last_seen_micros.max(last);
        if files.cmp(version, self.version) == Ordering::Greater {
            // The shared copy of a name is usually the one already held.
            if !Arc::ptr_eq(&self.name, name) {
                self.name = name.clone();
            }
            self.version = version;
        }
    }
}

impl ProductRow {
    /// The row of a product seen on one line version.
    fn seen(v: &Line) -> ProductRow {
        ProductRow { description: v.product_description.clone(), version: v.version }
    }

    /// Folds another sighting of the product: `description` on `version`.
    fn absorb(&mut self, files: &FileTable, description: &Arc<str>, version: Version) {
        if files.cmp(version, self.version) == Ordering::Greater {
            if !Arc::ptr_eq(&self.description, description) {
                self.description = description.clone();
            }
            self.version = version;
        }
    }
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
        match self.clients.entry(v.client_id) {
            Entry::Vacant(e) => {
                e.insert(ClientRow::seen(v, at));
            }
            Entry::Occupied(mut e) => e.get_mut().absorb(files, &v.client_name, v.version, at, at),
        }
        match self.products.entry(v.key.product_id) {
            Entry::Vacant(e) => {
                e.insert(ProductRow::seen(v));
            }
            Entry::Occupied(mut e) => e.get_mut().absorb(files, &v.product_description, v.version),
        }
    }

    /// Folds what another observation says of a client.
    pub fn observe_client(&mut self, files: &FileTable, id: i64, row: ClientRow) {
        match self.clients.entry(id) {
            Entry::Vacant(e) => {
                e.insert(row);
            }
            Entry::Occupied(mut e) => {
                e.get_mut().absorb(files, &row.name, row.version, row.first_seen_micros, row.last_seen_micros)
            }
        }
    }

    /// Folds what another observation says of a product.
    pub fn observe_product(&mut self, files: &FileTable, id: i64, row: ProductRow) {
        match self.products.entry(id) {
            Entry::Vacant(e) => {
                e.insert(row);
            }
            Entry::Occupied(mut e) => e.get_mut().absorb(files, &row.description, row.version),
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

/// What line versions say of clients and products, gathered by id in hash maps (a lookup
/// per version costs less than in the ordered maps of [`Dims`]) and folded into a [`Dims`]
/// at once, in id order.
#[derive(Debug, Clone, Default)]
pub(super) struct Sightings {
    clients: IntMap<i64, ClientRow>,
    products: IntMap<i64, ProductRow>,
}

impl Sightings {
    /// Takes one line version into account, as [`Dims::observe`] does.
    pub(super) fn observe(&mut self, files: &FileTable, v: &Line) {
        let at = files.instant(v.version);
        match self.clients.entry(v.client_id) {
            HashEntry::Vacant(e) => {
                e.insert(ClientRow::seen(v, at));
            }
            HashEntry::Occupied(mut e) => e.get_mut().absorb(files, &v.client_name, v.version, at, at),
        }
        match self.products.entry(v.key.product_id) {
            HashEntry::Vacant(e) => {
                e.insert(ProductRow::seen(v));
            }
            HashEntry::Occupied(mut e) => e.get_mut().absorb(files, &v.product_description, v.version),
        }
    }

    /// The sightings as dimensions.
    pub(super) fn to_dims(&self) -> Dims {
        Dims {
            clients: sorted(&self.clients).map(|(id, c)| (id, c.clone())).collect(),
            products: sorted(&self.products).map(|(id, p)| (id, p.clone())).collect(),
        }
    }

    /// Folds the sightings into `dims` (over the same file table), in id order.
    pub(super) fn fold_into(&self, files: &FileTable, dims: &mut Dims) {
        if dims.clients.is_empty() && dims.products.is_empty() {
            *dims = self.to_dims();
            return;
        }
        for (id, c) in sorted(&self.clients) {
            dims.observe_client(files, id, c.clone());
        }
        for (id, p) in sorted(&self.products) {
            dims.observe_product(files, id, p.clone());
        }
    }
}

/// The entries of `map`, by id.
fn sorted<T>(map: &IntMap<i64, T>) -> impl Iterator<Item = (i64, &T)> {
    let mut v: Vec<(i64, &T)> = map.iter().map(|(id, t)| (*id, t)).collect();
    v.sort_unstable_by_key(|(id, _)| *id);
    v.into_iter()
}
