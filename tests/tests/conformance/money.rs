//! Money: yuan on the wire, whole fen in the store, exact sums.

use crate::support::*;
use kangdao_engine::reports::{ChartRun, ChartSpec};
use kangdao_engine::{EngineError, Lang};
use serde_json::{json, Value};

on_both_backends!(money_is_exact);

async fn money_is_exact(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let docs: Vec<_> = (0..10)
        .map(|i| obj(json!({"name": format!("VIP{i}"), "tier": "VIP", "total_spent": 0.1})))
        .chain((0..3).map(|i| obj(json!({"name": format!("N{i}"), "total_spent": 0.7}))))
        .collect();
    ctx.engine
        .create_records_bulk(&ctx.admin, "patient", docs, Lang::En)
        .await
        .unwrap();
    // One through the single-record path, 0.1 + 0.2 style.
    create(
        &ctx,
        "patient",
        json!({"name": "single", "tier": "normal", "total_spent": 0.30000000000000004}),
    )
    .await;

    let spec: ChartSpec = serde_json::from_value(json!({
        "entity": "patient", "chart": "bar",
        "dimensions": [{"field": "tier"}],
        "measures": [{"agg": "sum", "field": "total_spent"}, {"agg": "count"}],
        "sort": [{"by": "count", "dir": "desc"}]
    }))
    .unwrap();
    let result = ctx
        .engine
        .run_chart(&ctx.admin, &spec, &ChartRun::default())
        .await
        .unwrap();
    let row_of = |tier: &str| -> Vec<Value> {
        result
            .rows
            .iter()
            .find(|r| r[0] == json!(tier))
            .unwrap_or_else(|| panic!("no row for {tier}: {:?}", result.rows))
            .clone()
    };
    let vip = row_of("VIP");
    assert_eq!(
        vip[1].as_f64(),
        Some(1.0),
        "sum of ten 0.1 is exactly 1: {vip:?}"
    );
    assert_eq!(vip[2], json!(10));
    let normal = row_of("normal");
    assert_eq!(normal[1].as_f64(), Some(2.4), "{normal:?}");
    assert_eq!(normal[2], json!(4));
    let money_column = result
        .columns
        .iter()
        .find(|c| c.column_type == "money")
        .expect("the sum is typed money");
    assert!(money_column.name.contains("total_spent"));

    // The store holds whole fen.
    let fen = scalar_i64(
        &ctx,
        "SELECT CAST(SUM(\"f_total_spent\") AS BIGINT) FROM \"e_patient\" WHERE \"f_tier\" = 'VIP'",
    )
    .await;
    assert_eq!(fen, 100);
    let single = scalar_i64(
        &ctx,
        "SELECT \"f_total_spent\" FROM \"e_patient\" WHERE \"f_name\" = 'single'",
    )
    .await;
    assert_eq!(single, 30);

    // Sums over no rows and min/max/avg keep the money type.
    let spec: ChartSpec = serde_json::from_value(json!({
        "entity": "patient", "chart": "bar",
        "measures": [{"agg": "sum", "field": "total_spent"}, {"agg": "max", "field": "total_spent"},
                     {"agg": "min", "field": "total_spent"}],
        "filters": {"field": "tier", "op": "eq", "value": "VIP"}
    }))
    .unwrap();
    let result = ctx
        .engine
        .run_chart(&ctx.admin, &spec, &ChartRun::default())
        .await
        .unwrap();
    assert_eq!(result.rows.len(), 1);
    assert_eq!(result.rows[0][0].as_f64(), Some(1.0));
    assert_eq!(result.rows[0][1].as_f64(), Some(0.1));
    assert_eq!(result.rows[0][2].as_f64(), Some(0.1));

    // More than two decimals is refused, on create and update alike.
    let err = try_create(&ctx, "patient", json!({"name": "x", "total_spent": 19.999}))
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Validation { .. }), "{err:?}");
    assert_eq!(
        detail_codes(&err),
        vec![("total_spent".to_string(), "money_precision".to_string())]
    );
    let ok = create(&ctx, "patient", json!({"name": "y", "total_spent": 19.99})).await;
    assert_eq!(ok.data["total_spent"].as_f64(), Some(19.99));
    let err = ctx
        .engine
        .update_record(
            &ctx.admin,
            "patient",
            ok.id,
            obj(json!({"total_spent": 0.001})),
            1,
            Lang::En,
        )
        .await
        .unwrap_err();
    assert_eq!(
        detail_codes(&err),
        vec![("total_spent".to_string(), "money_precision".to_string())]
    );
    let y = scalar_i64(
        &ctx,
        "SELECT \"f_total_spent\" FROM \"e_patient\" WHERE \"f_name\" = 'y'",
    )
    .await;
    assert_eq!(y, 1999);
}
