//! Queries over records as pure types: the filter grammar every path shares (lists, exports,
//! `exists`, aggregates, field rules; later segments, charts and flow conditions). The SQL
//! compiler lives with the records it reads (`records::filter`).

pub mod grammar;

pub use grammar::{ExistsTest, FilterExpr, Op};
