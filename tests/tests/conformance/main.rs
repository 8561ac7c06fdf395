//! The storage conformance suite: every scenario is written once and runs as two tests, on
//! SQLite and on PostgreSQL (`<module>::<scenario>::sqlite` and `…::postgres`).

/// Turns each named `async fn scenario(backend: Backend)` of the calling module into a module
/// of the same name holding a `sqlite` and a `postgres` test.
macro_rules! on_both_backends {
    ($($scenario:ident),+ $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$scenario(crate::support::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$scenario(crate::support::Backend::Postgres).await
                }
            }
        )+
    };
}

mod support;

mod bulk;
mod change_events;
mod concurrency;
mod core_pack;
mod definitions;
mod filter_agreement;
mod flow_batches;
mod flow_history;
mod flow_schedules;
mod flow_timers;
mod flow_wait_until;
mod formula_sensitive;
mod import_export;
mod instances;
mod jobs;
mod keys;
mod lists;
mod live_indexes;
mod money;
mod pinyin;
mod records;
mod references;
mod related_filters;
mod reports_charts;
mod reports_rights;
mod reports_support;
mod schema_change;
mod sensitive;
mod totals;
mod unique;
