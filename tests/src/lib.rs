//! Shared set-up for the cross-crate tests and benchmarks: a fresh database per test on either
//! backend, so tests run in parallel and never see each other's rows.

pub mod backends;
pub mod child;
pub mod contract;
pub mod server;

pub use backends::{Backend, FreshDatabase};

/// Runs one scenario, an `async fn(Backend)`, as two tests: on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $scenario:path) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $scenario($crate::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $scenario($crate::Backend::Postgres).await
            }
        }
    };
}
