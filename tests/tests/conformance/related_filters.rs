//! Filters that look at related records (`exists`) and at birthdays.

use crate::support::*;
use kangdao_engine::records::{FilterExpr, ListQuery, SortKey};
use kangdao_engine::EngineError;
use serde_json::{json, Value};

on_both_backends!(patients_filtered_by_their_visits);
on_both_backends!(upcoming_birthdays);

fn names(ctx_items: &[kangdao_engine::records::Record]) -> Vec<String> {
    ctx_items
        .iter()
        .map(|r| r.data["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn names_matching(ctx: &Ctx, filter: Value) -> Result<Vec<String>, EngineError> {
    let query = ListQuery {
        filter: Some(FilterExpr::parse(filter)?),
        sort: SortKey::parse_list("name"),
        ..ListQuery::default()
    };
    let page = ctx
        .engine
        .list_records(&ctx.admin, "patient", &query)
        .await?;
    Ok(names(&page.items))
}

async fn patients_filtered_by_their_visits(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let a = create(&ctx, "patient", json!({"name": "A"})).await;
    let b = create(&ctx, "patient", json!({"name": "B"})).await;
    create(&ctx, "patient", json!({"name": "C"})).await;
    create(
        &ctx,
        "visit",
        json!({"patient": a.id.to_string(), "amount": 100}),
    )
    .await;
    create(
        &ctx,
        "visit",
        json!({"patient": b.id.to_string(), "amount": 5000.5}),
    )
    .await;

    let any_visit = json!({"exists": {"entity": "visit", "ref": "patient"}});
    assert_eq!(
        names_matching(&ctx, any_visit.clone()).await.unwrap(),
        ["A", "B"]
    );
    let big_spender = json!({"exists": {"entity": "visit", "ref": "patient",
        "filters": {"field": "amount", "op": "gt", "value": 1000}}});
    assert_eq!(names_matching(&ctx, big_spender).await.unwrap(), ["B"]);
    assert_eq!(
        names_matching(&ctx, json!({"not": any_visit}))
            .await
            .unwrap(),
        ["C"]
    );

    // A deleted visit no longer counts.
    let visits = ctx
        .engine
        .list_records(&ctx.admin, "visit", &ListQuery::default())
        .await
        .unwrap();
    let small = visits
        .items
        .iter()
        .find(|v| v.data["patient"] == a.id.to_string())
        .unwrap();
    ctx.engine
        .delete_record(&ctx.admin, "visit", small.id, small.version)
        .await
        .unwrap();
    let any_visit = json!({"exists": {"entity": "visit", "ref": "patient"}});
    assert_eq!(names_matching(&ctx, any_visit).await.unwrap(), ["B"]);

    for bad in [
        json!({"exists": {"entity": "nothing", "ref": "patient"}}),
        json!({"exists": {"entity": "visit", "ref": "amount"}}),
        json!({"exists": {"entity": "visit", "ref": "patient", "filters": {"field": "nope", "op": "eq", "value": 1}}}),
    ] {
        assert!(
            matches!(
                names_matching(&ctx, bad.clone()).await,
                Err(EngineError::BadRequest { .. })
            ),
            "{bad}"
        );
    }
}

async fn upcoming_birthdays(backend: Backend) {
    // The test clock stands at 2026-11-24 (Asia/Shanghai).
    let ctx = open_with_entities(backend).await;
    for (name, birth) in [
        ("today", "1980-11-24"),
        ("tomorrow", "1990-11-25"),
        ("in a month", "1975-12-20"),
        ("last week", "1970-11-17"),
        ("no date", ""),
    ] {
        let mut data = json!({"name": name});
        if !birth.is_empty() {
            data["birth_date"] = json!(birth);
        }
        create(&ctx, "patient", data).await;
    }
    let within =
        |days: i64| json!({"field": "birth_date", "op": "birthday_in_n_days", "value": days});
    assert_eq!(names_matching(&ctx, within(0)).await.unwrap(), ["today"]);
    assert_eq!(
        names_matching(&ctx, within(7)).await.unwrap(),
        ["today", "tomorrow"]
    );
    assert_eq!(
        names_matching(&ctx, within(40)).await.unwrap(),
        ["in a month", "today", "tomorrow"]
    );
    let on_text = json!({"field": "name", "op": "birthday_in_n_days", "value": 3});
    assert!(matches!(
        names_matching(&ctx, on_text).await,
        Err(EngineError::BadRequest { .. })
    ));
}
