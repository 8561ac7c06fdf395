//! Reports: chart specs compiled to SQL, saved segments, charts and dashboards.

pub mod dashboard_cache;
pub mod saved;
pub mod segments;
