//! Charts under the viewer's rights: hidden and sensitive fields in every slot, injection
//! payloads in every string slot, row scopes, explain, and the two backends agreeing.

use crate::reports_support::*;
use crate::support::*;
use kangdao_engine::access::{Action, EntityPermission, FieldRule, Principal, RowScope};
use kangdao_engine::reports::ChartRun;
use kangdao_engine::{EngineError, EntityName, FieldName};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

on_both_backends!(
    hidden_fields_are_refused_in_every_slot,
    sensitive_fields_are_never_grouped_sorted_or_aggregated,
    injection_payloads_leave_the_database_untouched,
    row_scopes_limit_the_rows_charted,
    explain_needs_design_and_shows_no_values,
);

fn permission(
    entity: &str,
    actions: &[Action],
    rows: RowScope,
    fields: &[(&str, FieldRule)],
) -> EntityPermission {
    EntityPermission {
        entity: EntityName::new(entity).unwrap(),
        actions: actions.to_vec(),
        rows,
        fields: fields
            .iter()
            .map(|(f, r)| (FieldName::new(*f).unwrap(), *r))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn viewer(user: Uuid, departments: &[&str], permissions: Vec<EntityPermission>) -> Principal {
    Principal {
        user_id: Some(user),
        actor: user.to_string(),
        username: "viewer".into(),
        is_admin: false,
        departments: departments.iter().map(|d| d.to_string()).collect(),
        permissions,
        rights: vec![],
        by_token: false,
        credentials_epoch: 0,
        run: None,
    }
}

fn refused(
    result: Result<kangdao_engine::reports::ChartAnswer, EngineError>,
    field: &str,
    code: &str,
    what: &str,
) {
    let err = result.err().unwrap_or_else(|| panic!("{what}: answered"));
    let codes = detail_codes(&err);
    assert!(
        codes.iter().any(|(f, c)| f == field && c == code),
        "{what}: expected {code} on {field}, got {err:?}"
    );
}

async fn hidden_fields_are_refused_in_every_slot(backend: Backend) {
    let c = clinic(backend).await;
    let desk = viewer(
        Uuid::new_v4(),
        &[],
        vec![
            permission(
                "visit",
                &[Action::Read],
                RowScope::All,
                &[("cost", FieldRule::Hidden)],
            ),
            permission(
                "patient",
                &[Action::Read],
                RowScope::All,
                &[("source", FieldRule::Hidden)],
            ),
        ],
    );
    let cost_filter = json!({"field": "cost", "op": "gt", "value": 1});
    let slots = [
        (
            "dimension",
            json!({"entity": "visit", "chart": "bar", "dimensions": [{"field": "cost"}], "measures": [{"agg": "count"}]}),
            "cost",
        ),
        (
            "measure",
            json!({"entity": "visit", "chart": "bar", "measures": [{"agg": "sum", "field": "cost"}]}),
            "cost",
        ),
        (
            "count of a field",
            json!({"entity": "visit", "chart": "bar", "measures": [{"agg": "count", "field": "cost"}]}),
            "cost",
        ),
        (
            "filter",
            json!({"entity": "visit", "chart": "bar", "measures": [{"agg": "count"}], "filters": cost_filter}),
            "cost",
        ),
        (
            "ratio filter",
            json!({"entity": "visit", "chart": "kpi", "measures": [{"agg": "ratio", "filter": cost_filter}]}),
            "cost",
        ),
        (
            "stage filter",
            json!({"entity": "visit", "chart": "funnel", "measures": [{"agg": "count"}],
            "stages": [{"name": "a"}, {"name": "b", "filter": cost_filter}]}),
            "cost",
        ),
        (
            "sort",
            json!({"entity": "visit", "chart": "bar", "dimensions": [{"field": "cost"}], "measures": [{"agg": "count"}],
            "sort": [{"by": "cost"}]}),
            "cost",
        ),
        (
            "exists sub-filter",
            json!({"entity": "patient", "chart": "bar", "measures": [{"agg": "count"}],
            "filters": {"exists": {"entity": "visit", "ref": "patient", "filters": cost_filter}}}),
            "cost",
        ),
        (
            "hopped field",
            json!({"entity": "visit", "chart": "bar", "dimensions": [{"field": "patient.source"}], "measures": [{"agg": "count"}]}),
            "source",
        ),
        (
            "hopped measure",
            json!({"entity": "visit", "chart": "bar", "measures": [{"agg": "count_distinct", "field": "patient.source"}]}),
            "source",
        ),
        (
            "kpi period",
            json!({"entity": "visit", "chart": "kpi", "measures": [{"agg": "count"}],
            "period": {"field": "cost", "op": "this_month"}}),
            "cost",
        ),
    ];
    for (what, v, field) in slots {
        refused(
            chart_as(&c.ctx, &desk, v).await,
            field,
            "field_hidden",
            what,
        );
    }
    // The same charts without the hidden field answer.
    let ok = chart_as(&c.ctx, &desk, json!({"entity": "visit", "chart": "bar",
        "dimensions": [{"field": "patient.dept"}], "measures": [{"agg": "sum", "field": "amount"}]})).await.unwrap();
    assert_eq!(rows(&ok), json!([["cardiology", 350], ["oncology", 310]]));
    // No read on the hopped entity: forbidden.
    let visits_only = viewer(
        Uuid::new_v4(),
        &[],
        vec![permission("visit", &[Action::Read], RowScope::All, &[])],
    );
    let err = chart_as(
        &c.ctx,
        &visits_only,
        json!({"entity": "visit", "chart": "bar",
        "dimensions": [{"field": "patient.dept"}], "measures": [{"agg": "count"}]}),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, EngineError::Forbidden(_)), "{err:?}");
}

async fn sensitive_fields_are_never_grouped_sorted_or_aggregated(backend: Backend) {
    let c = clinic(backend).await;
    let masked = viewer(
        Uuid::new_v4(),
        &[],
        vec![
            permission(
                "visit",
                &[Action::Read],
                RowScope::All,
                &[("amount", FieldRule::Masked)],
            ),
            permission("patient", &[Action::Read], RowScope::All, &[]),
        ],
    );
    for who in [&c.ctx.admin, &masked] {
        for (what, v) in [
            (
                "dimension",
                json!({"entity": "visit", "chart": "bar", "dimensions": [{"field": "diagnosis"}], "measures": [{"agg": "count"}]}),
            ),
            (
                "sort",
                json!({"entity": "visit", "chart": "bar", "dimensions": [{"field": "diagnosis"}], "measures": [{"agg": "count"}], "sort": [{"by": "diagnosis"}]}),
            ),
            (
                "min",
                json!({"entity": "visit", "chart": "bar", "measures": [{"agg": "min", "field": "diagnosis"}]}),
            ),
            (
                "max",
                json!({"entity": "visit", "chart": "bar", "measures": [{"agg": "max", "field": "diagnosis"}]}),
            ),
            (
                "sum",
                json!({"entity": "visit", "chart": "bar", "measures": [{"agg": "sum", "field": "diagnosis"}]}),
            ),
            (
                "count distinct",
                json!({"entity": "visit", "chart": "bar", "measures": [{"agg": "count_distinct", "field": "diagnosis"}]}),
            ),
            (
                "hopped dimension",
                json!({"entity": "visit", "chart": "bar", "dimensions": [{"field": "patient.id_number"}], "measures": [{"agg": "count"}]}),
            ),
        ] {
            let field = if what == "hopped dimension" {
                "id_number"
            } else {
                "diagnosis"
            };
            refused(chart_as(&c.ctx, who, v).await, field, "field_masked", what);
        }
    }
    // A masked money field: no sum, but its emptiness may be counted.
    refused(
        chart_as(
            &c.ctx,
            &masked,
            json!({"entity": "visit", "chart": "bar",
        "measures": [{"agg": "sum", "field": "amount"}]}),
        )
        .await,
        "amount",
        "field_masked",
        "masked sum",
    );
    let counted = chart_as(
        &c.ctx,
        &masked,
        json!({"entity": "visit", "chart": "kpi",
        "measures": [{"agg": "count", "field": "amount"}, {"agg": "count", "field": "diagnosis"}]}),
    )
    .await
    .unwrap();
    assert_eq!(rows(&counted), json!([[5, 6]]));
}

async fn injection_payloads_leave_the_database_untouched(backend: Backend) {
    let c = clinic(backend).await;
    let before = dump_all_tables(&c.ctx).await;
    let payloads = [
        "x\"; DROP TABLE \"e_visit\"; --",
        "x'); DELETE FROM e_visit; --",
        "' OR '1'='1",
        "status) FROM e_visit; DROP TABLE users; --",
        "$1",
    ];
    for p in payloads {
        let specs = [
            json!({"entity": p, "chart": "bar", "measures": [{"agg": "count"}]}),
            json!({"entity": "visit", "chart": "bar", "dimensions": [{"field": p}], "measures": [{"agg": "count"}]}),
            json!({"entity": "visit", "chart": "bar", "dimensions": [{"field": format!("patient.{p}")}], "measures": [{"agg": "count"}]}),
            json!({"entity": "visit", "chart": "bar", "measures": [{"agg": "sum", "field": p}]}),
            json!({"entity": "visit", "chart": "bar", "measures": [{"agg": "count", "name": p}]}),
            json!({"entity": "visit", "chart": "bar", "dimensions": [{"field": "status"}], "measures": [{"agg": "count"}], "sort": [{"by": p}]}),
            json!({"entity": "visit", "chart": "bar", "measures": [{"agg": "count"}, {"name": "d", "expr": p}]}),
            json!({"entity": "visit", "chart": "bar", "measures": [{"agg": "count"}, {"name": "d", "expr": format!("count / {p}")}]}),
            json!({"entity": "visit", "chart": "funnel", "measures": [{"agg": "count"}], "stages": [{"name": p}, {"name": "b"}]}),
            json!({"entity": "visit", "chart": "kpi", "measures": [{"agg": "count"}], "period": {"field": p, "op": "this_month"}}),
        ];
        for v in specs {
            assert!(
                chart_as(&c.ctx, &c.ctx.admin, v.clone()).await.is_err(),
                "{v}"
            );
        }
        // A filter value is bound: it matches nothing, and nothing runs.
        let answer = chart(&c.ctx, json!({"entity": "visit", "chart": "kpi", "measures": [{"agg": "count"}],
            "filters": {"or": [{"field": "status", "op": "eq", "value": p}, {"field": "status", "op": "in", "value": [p]},
                               {"field": "diagnosis", "op": "eq", "value": p}]}})).await;
        assert_eq!(rows(&answer), json!([[0]]), "{p}");
        // A bucket is one of five words.
        let bucket: Result<kangdao_engine::reports::ChartSpec, _> =
            serde_json::from_value(json!({"entity": "visit", "chart": "bar",
            "dimensions": [{"field": "visit_time", "bucket": p}], "measures": [{"agg": "count"}]}));
        assert!(bucket.is_err());
    }
    assert_eq!(dump_all_tables(&c.ctx).await, before);
    assert_eq!(
        scalar_i64(&c.ctx, "SELECT COUNT(*) FROM \"e_visit\"").await,
        6
    );
}

async fn row_scopes_limit_the_rows_charted(backend: Backend) {
    let c = clinic(backend).await;
    let count_spent = json!({"entity": "patient", "chart": "kpi",
        "measures": [{"agg": "count"}, {"agg": "sum", "field": "total_spent"}]});
    // Own: the patients whose doctor (the owner field) is the viewer.
    let own = viewer(
        c.doctor_wang,
        &[],
        vec![permission("patient", &[Action::Read], RowScope::Own, &[])],
    );
    assert_eq!(
        rows(&chart_as(&c.ctx, &own, count_spent.clone()).await.unwrap()),
        json!([[2, 300]])
    );
    // Department: the patients of the viewer's departments; none matches nothing.
    let oncology = viewer(
        c.doctor_li,
        &["oncology"],
        vec![permission(
            "patient",
            &[Action::Read],
            RowScope::Department,
            &[],
        )],
    );
    assert_eq!(
        rows(
            &chart_as(&c.ctx, &oncology, count_spent.clone())
                .await
                .unwrap()
        ),
        json!([[2, 200]])
    );
    let nowhere = viewer(
        c.doctor_li,
        &[],
        vec![permission(
            "patient",
            &[Action::Read],
            RowScope::Department,
            &[],
        )],
    );
    assert_eq!(
        rows(
            &chart_as(&c.ctx, &nowhere, count_spent.clone())
                .await
                .unwrap()
        ),
        json!([[0, null]])
    );
    // The widest role wins.
    let both = viewer(
        c.doctor_li,
        &["oncology"],
        vec![
            permission("patient", &[Action::Read], RowScope::Own, &[]),
            permission("patient", &[Action::Read], RowScope::Department, &[]),
        ],
    );
    assert_eq!(
        rows(&chart_as(&c.ctx, &both, count_spent.clone()).await.unwrap()),
        json!([[2, 200]])
    );
    // Every chart type: grouped, funnel, and a hop into a scoped entity groups under null.
    let grouped = chart_as(
        &c.ctx,
        &own,
        json!({"entity": "patient", "chart": "bar",
        "dimensions": [{"field": "dept"}], "measures": [{"agg": "count"}]}),
    )
    .await
    .unwrap();
    assert_eq!(rows(&grouped), json!([["cardiology", 1], ["oncology", 1]]));
    let funnel = chart_as(&c.ctx, &oncology, json!({"entity": "patient", "chart": "funnel", "measures": [{"agg": "count"}],
        "stages": [{"name": "a"}, {"name": "b", "filter": {"field": "total_spent", "op": "gt", "value": 0}}]})).await.unwrap();
    assert_eq!(
        rows(&funnel),
        json!([["a", 2, null, 1.0], ["b", 1, 0.5, 0.5]])
    );
    let visits = viewer(
        c.doctor_wang,
        &[],
        vec![
            permission("visit", &[Action::Read], RowScope::All, &[]),
            permission("patient", &[Action::Read], RowScope::Own, &[]),
        ],
    );
    let hopped = chart_as(
        &c.ctx,
        &visits,
        json!({"entity": "visit", "chart": "bar",
        "dimensions": [{"field": "patient.name"}], "measures": [{"agg": "count"}]}),
    )
    .await
    .unwrap();
    assert_eq!(rows(&hopped), json!([["王五", 2], ["张三", 2], [null, 2]]));
}

async fn explain_needs_design_and_shows_no_values(backend: Backend) {
    let c = clinic(backend).await;
    let v = json!({"entity": "visit", "chart": "bar", "dimensions": [{"field": "visit_time", "bucket": "month"}],
        "measures": [{"agg": "count"}], "filters": {"field": "status", "op": "eq", "value": "cancelled"}, "fill": false});
    let run = ChartRun {
        explain: true,
        ..ChartRun::default()
    };
    let reader = viewer(
        Uuid::new_v4(),
        &[],
        vec![permission("visit", &[Action::Read], RowScope::All, &[])],
    );
    let err = c
        .ctx
        .engine
        .run_chart(&reader, &spec(v.clone()), &run)
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Forbidden(_)), "{err:?}");
    let designer = viewer(
        Uuid::new_v4(),
        &[],
        vec![permission(
            "visit",
            &[Action::Read, Action::Design],
            RowScope::All,
            &[],
        )],
    );
    let answer = c
        .ctx
        .engine
        .run_chart(&designer, &spec(v), &run)
        .await
        .unwrap();
    assert_eq!(rows(&answer), json!([["2026-12-01", 1]]));
    let explain = answer.explain.unwrap();
    assert_eq!(explain.statements.len(), 1);
    let statement = &explain.statements[0];
    assert!(!statement.sql.contains("cancelled"));
    assert!(statement.sql.contains("LIMIT 10000"), "{}", statement.sql);
    assert!(
        statement.params.iter().any(|p| p == "text"),
        "{:?}",
        statement.params
    );
    let _: Vec<Value> = vec![];
}

/// The two backends answer the same rows for the same specs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_answer_alike() {
    let sqlite = clinic(Backend::Sqlite).await;
    let postgres = clinic(Backend::Postgres).await;
    let specs = [
        json!({"entity": "visit", "chart": "bar", "dimensions": [{"field": "visit_time", "bucket": "week"}, {"field": "status"}],
               "measures": [{"agg": "count"}, {"agg": "sum", "field": "amount"}, {"agg": "avg", "field": "cost"},
                            {"agg": "median", "field": "amount"}, {"agg": "min", "field": "visit_time"}]}),
        json!({"entity": "visit", "chart": "table", "dimensions": [{"field": "patient.name"}],
               "measures": [{"agg": "count_distinct", "field": "status"}, {"agg": "max", "field": "amount"},
                            {"agg": "ratio", "filter": {"field": "amount", "op": "gt", "value": 60}},
                            {"name": "margin", "expr": "max_amount - 1.5"}],
               "sort": [{"by": "ratio", "dir": "desc"}]}),
        json!({"entity": "patient", "chart": "pie", "dimensions": [{"field": "source"}],
               "measures": [{"agg": "sum", "field": "total_spent"}], "sort": [{"by": "sum_total_spent", "dir": "desc"}]}),
        json!({"entity": "visit", "chart": "line", "dimensions": [{"field": "visit_time", "bucket": "day"}],
               "measures": [{"agg": "count"}], "filters": {"field": "visit_time", "op": "this_month"}}),
        json!({"entity": "visit", "chart": "pivot", "dimensions": [{"field": "status"}, {"field": "visit_time", "bucket": "year"}],
               "measures": [{"agg": "median", "field": "cost"}], "totals": true}),
    ];
    for v in specs {
        let a = chart(&sqlite.ctx, v.clone()).await;
        let b = chart(&postgres.ctx, v.clone()).await;
        // Rows hold names and values only (ids differ per database).
        assert_eq!(rows(&a), rows(&b), "{v}");
        assert_eq!(json!(a.totals), json!(b.totals), "{v}");
        assert_eq!(a.columns, b.columns, "{v}");
    }
}
