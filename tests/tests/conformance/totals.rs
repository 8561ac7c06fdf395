//! List totals past the counting bound: exact up to it, an estimate beyond — on SQLite an exact
//! count at most a minute old, on PostgreSQL the planner's — and exact on request.

use crate::support::*;
use kangdao_engine::records::{FilterExpr, ListQuery, EXACT_TOTAL_BOUND};
use kangdao_engine::Lang;
use serde_json::{json, Value};

on_both_backends!(estimates_past_the_bound_follow_the_backend);

async fn add_patients(ctx: &Ctx, from: u32, n: u32) {
    let docs = (from..from + n)
        .map(|i| obj(json!({"name": format!("估计{i}"), "mrn": format!("E{i:05}")})))
        .collect();
    ctx.engine
        .create_records_bulk(&ctx.admin, "patient", docs, Lang::En)
        .await
        .expect("bulk create");
}

async fn totals(ctx: &Ctx, filter: Option<Value>, exact: bool) -> (Option<u64>, Option<u64>) {
    let page = list(
        ctx,
        "patient",
        ListQuery {
            per_page: 1,
            count: true,
            exact_total: exact,
            filter: filter.map(|f| FilterExpr::parse(f).unwrap()),
            ..Default::default()
        },
    )
    .await;
    (page.total, page.total_estimate)
}

async fn estimates_past_the_bound_follow_the_backend(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    add_patients(&ctx, 0, 1100).await;

    // At the bound the total is exact; one row past it, an estimate.
    let first_thousand = json!({"field": "mrn", "op": "lt", "value": "E01000"});
    assert_eq!(
        totals(&ctx, Some(first_thousand), false).await,
        (Some(EXACT_TOTAL_BOUND), None)
    );
    let (total, estimate) = totals(&ctx, None, false).await;
    assert_eq!(total, None);
    let estimate = estimate.expect("an estimate past the bound");
    assert!(estimate > EXACT_TOTAL_BOUND, "{estimate}");
    match backend {
        // No planner estimate: a full count, exact while fresh.
        Backend::Sqlite => assert_eq!(estimate, 1100),
        // Statistics were refreshed after the bulk write: the planner is near.
        Backend::Postgres => assert!((700..=1700).contains(&estimate), "{estimate}"),
    }
    assert_eq!(totals(&ctx, None, true).await, (Some(1100), None));

    // More rows: SQLite serves its count for a minute, then counts again.
    add_patients(&ctx, 1100, 300).await;
    assert_eq!(totals(&ctx, None, true).await, (Some(1400), None));
    let (_, soon) = totals(&ctx, None, false).await;
    ctx.clock.advance(time::Duration::seconds(61));
    let (_, later) = totals(&ctx, None, false).await;
    match backend {
        Backend::Sqlite => {
            assert_eq!(soon, Some(1100), "the count of a minute ago");
            assert_eq!(later, Some(1400), "counted again after a minute");
        }
        Backend::Postgres => {
            let later = later.expect("an estimate");
            assert!((1000..=2100).contains(&later), "{later}");
        }
    }

    // The recycle bin is another statement: its own count, never the live list's.
    let bin = list(
        &ctx,
        "patient",
        ListQuery {
            count: true,
            deleted: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!((bin.total, bin.total_estimate), (Some(0), None));
}
