//! The serving state: the lake's current content, kept up to date file by file.
//!
//! Every question the API answers is about the *current* order lines (each line in its
//! latest version). Recomputing them from every version ever ingested costs what the
//! history costs; this module keeps them instead, with the aggregates behind the reports,
//! and folds each new file into them:
//!
//! | module | what |
//! |---|---|
//! | [`files`](FileTable) | the folded files and the version order (the one place the rule is written) |
//! | [`line`](Line) | an order line in its latest version; [`Line::absorb`] folds versions |
//! | [`dims`](Dims) | the current row of the client and product dimensions (the names reports show) |
//! | [`cube`](Cube) | the report aggregates, maintained order by order |
//! | [`fold`](fold_orders) | new files' versions applied to the touched orders |
//! | [`tables`] | the state as Arrow tables (Parquet in the lake, Athena tables) |
//!
//! The state is a pure function of the set of published files: folding files one at a
//! time, in any order and grouping, gives what one fold of all of them gives (a property
//! test checks it against [`crate::reports`] over a [`crate::CurrentState`]). Where it is
//! stored, and how a new generation is committed, is the lake's business (`duff-lake`).

mod cube;
mod dims;
mod files;
mod fold;
mod line;
pub mod tables;

pub use cube::{ClientSlice, Cube, CubeDelta, Slice};
pub use dims::{ClientRow, Dims, ProductRow};
pub use files::{FileTable, LINE_BITS, Version};
pub use fold::{NewVersions, fold_dims, fold_orders, fold_orders_into};
pub use line::{Line, Names};
