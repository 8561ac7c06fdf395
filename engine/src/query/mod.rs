//! Queries over records as pure types: the filter grammar every path shares (lists, exports,
//! `exists`, aggregates, field rules; later segments, charts and flow conditions). The SQL
//! compiler lives with the records it reads (`records::filter`).

pub mod eval;
pub mod grammar;

pub use eval::{evaluate, EvalContext};
pub use grammar::{ExistsTest, FilterExpr, Op};
