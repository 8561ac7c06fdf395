//! Shared set-up for the cross-crate tests and benchmarks: a fresh database per test on either
//! backend, so tests run in parallel and never see each other's rows.

pub mod backends;
pub mod contract;
pub mod server;

pub use backends::{Backend, FreshDatabase};
