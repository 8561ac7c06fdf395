//! Charts on the fixed clinic dataset (`reports_support`), every expected answer computed by
//! hand from the table there.

use crate::reports_support::*;
use crate::support::*;
use kangdao_engine::reports::{ChartRun, PeriodOverride};
use kangdao_engine::Lang;
use serde_json::json;
use time::macros::{date, datetime};

on_both_backends!(
    time_buckets_follow_the_zone,
    measures_by_dimension,
    hops_sorts_and_derived_measures,
    top_n_others_and_table_pages,
    empty_buckets_are_filled,
    kpi_compares_periods,
    funnel_counts_each_stage,
    pivot_totals,
    labels_in_the_callers_language,
    nulls_and_empty_results,
    check_chart_names_what_it_reads,
);

async fn time_buckets_follow_the_zone(backend: Backend) {
    let c = clinic(backend).await;
    let by = |bucket: &str| {
        json!({"entity": "visit", "chart": "bar", "fill": false,
               "dimensions": [{"field": "visit_time", "bucket": bucket}], "measures": [{"agg": "count"}]})
    };
    // 23:30 Beijing on 31 October is October; 00:30 on 1 November is November.
    let month = chart(&c.ctx, by("month")).await;
    assert_eq!(month.columns[0].column_type, "date");
    assert_eq!(
        rows(&month),
        json!([
            ["2026-09-01", 1],
            ["2026-10-01", 1],
            ["2026-11-01", 2],
            ["2026-12-01", 1],
            ["2027-01-01", 1]
        ])
    );
    assert_eq!(
        rows(&chart(&c.ctx, by("quarter")).await),
        json!([["2026-07-01", 1], ["2026-10-01", 4], ["2027-01-01", 1]])
    );
    assert_eq!(
        rows(&chart(&c.ctx, by("year")).await),
        json!([["2026-01-01", 5], ["2027-01-01", 1]])
    );
    // Weeks start on Monday: Saturday 31 October and Sunday 1 November share the week of 26 October.
    assert_eq!(
        rows(&chart(&c.ctx, by("week")).await),
        json!([
            ["2026-09-28", 1],
            ["2026-10-26", 2],
            ["2026-11-09", 1],
            ["2026-12-28", 2]
        ])
    );
    assert_eq!(
        rows(&chart(&c.ctx, by("day")).await),
        json!([
            ["2026-09-30", 1],
            ["2026-10-31", 1],
            ["2026-11-01", 1],
            ["2026-11-15", 1],
            ["2026-12-31", 1],
            ["2027-01-01", 1]
        ])
    );
}

async fn measures_by_dimension(backend: Backend) {
    let c = clinic(backend).await;
    let answer = chart(&c.ctx, json!({"entity": "patient", "chart": "bar",
        "dimensions": [{"field": "dept"}],
        "measures": [{"agg": "count"}, {"agg": "sum", "field": "total_spent"},
                     {"agg": "avg", "field": "total_spent"}, {"agg": "min", "field": "total_spent"},
                     {"agg": "max", "field": "total_spent"}, {"agg": "median", "field": "total_spent"},
                     {"agg": "count_distinct", "field": "source"}, {"agg": "count", "field": "source"}]})).await;
    let names: Vec<&str> = answer.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "dept",
            "count",
            "sum_total_spent",
            "avg_total_spent",
            "min_total_spent",
            "max_total_spent",
            "median_total_spent",
            "count_distinct_source",
            "count_source"
        ]
    );
    let types: Vec<&str> = answer
        .columns
        .iter()
        .map(|c| c.column_type.as_str())
        .collect();
    assert_eq!(
        types,
        ["select", "integer", "money", "money", "money", "money", "money", "integer", "integer"]
    );
    assert_eq!(
        rows(&answer),
        json!([
            ["cardiology", 2, 150.5, 75.25, 50.5, 100, 75.25, 2, 2],
            ["oncology", 2, 200, 100, 0, 200, 100, 1, 1]
        ])
    );

    // Median: odd and even counts, nulls ignored; ratio with a filter.
    let answer = chart(&c.ctx, json!({"entity": "visit", "chart": "bar",
        "dimensions": [{"field": "status"}],
        "measures": [{"agg": "median", "field": "amount"},
                     {"agg": "ratio", "name": "returned", "filter": {"field": "return_visit", "op": "eq", "value": true}}]})).await;
    assert_eq!(
        rows(&answer),
        json!([["cancelled", 300, 0.0], ["completed", 75, 0.6]])
    );
    let answer = chart(
        &c.ctx,
        json!({"entity": "visit", "chart": "kpi",
        "measures": [{"agg": "median", "field": "amount"}, {"agg": "count"}]}),
    )
    .await;
    assert_eq!(rows(&answer), json!([[100, 6]]));
}

async fn hops_sorts_and_derived_measures(backend: Backend) {
    let c = clinic(backend).await;
    // One reference hop; select values in byte order, null last.
    let answer = chart(
        &c.ctx,
        json!({"entity": "visit", "chart": "bar",
        "dimensions": [{"field": "patient.source"}], "measures": [{"agg": "count"}]}),
    )
    .await;
    assert_eq!(
        rows(&answer),
        json!([["referral", 1], ["wechat", 4], [null, 1]])
    );
    // Text by its pinyin key (李 li, 王 wang, 张 zhang, 赵 zhao); derived division by zero is null.
    let answer = chart(
        &c.ctx,
        json!({"entity": "visit", "chart": "bar",
        "dimensions": [{"field": "patient.name"}],
        "measures": [{"agg": "sum", "field": "amount"}, {"agg": "sum", "field": "cost"},
                     {"name": "roi", "expr": "sum_amount / sum_cost"}]}),
    )
    .await;
    assert_eq!(answer.columns[3].column_type, "number");
    let roi: Vec<(String, Option<f64>)> = answer
        .rows
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), r[3].as_f64()))
        .collect();
    assert_eq!(roi[0], ("李四".to_string(), None));
    assert_eq!(roi[1], ("王五".to_string(), Some(3.0)));
    assert_eq!(roi[2].0, "张三");
    assert!((roi[2].1.unwrap() - 300.0 / 140.0).abs() < 1e-9, "{roi:?}");
    assert_eq!(roi[3], ("赵六".to_string(), Some(2.0)));
    // Sorted by the derived measure, descending, nulls last.
    let answer = chart(
        &c.ctx,
        json!({"entity": "visit", "chart": "bar",
        "dimensions": [{"field": "patient.name"}],
        "measures": [{"agg": "sum", "field": "amount"}, {"agg": "sum", "field": "cost"},
                     {"name": "roi", "expr": "(sum_amount - sum_cost) / sum_cost * 100"}],
        "sort": [{"by": "roi", "dir": "desc"}]}),
    )
    .await;
    let order: Vec<&str> = answer.rows.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(order, ["王五", "张三", "赵六", "李四"]);
    assert_eq!(answer.rows[0][3].as_f64(), Some(200.0));
    // Sorted ascending by count, ties by the dimension.
    let answer = chart(
        &c.ctx,
        json!({"entity": "patient", "chart": "bar",
        "dimensions": [{"field": "source"}], "measures": [{"agg": "count"}],
        "sort": [{"by": "count", "dir": "asc"}]}),
    )
    .await;
    assert_eq!(
        rows(&answer),
        json!([["referral", 1], [null, 1], ["wechat", 2]])
    );
}

async fn top_n_others_and_table_pages(backend: Backend) {
    let c = clinic(backend).await;
    let answer = chart(
        &c.ctx,
        json!({"entity": "visit", "chart": "bar",
        "dimensions": [{"field": "patient.name"}],
        "measures": [{"agg": "count"}, {"agg": "sum", "field": "amount"}],
        "sort": [{"by": "count", "dir": "desc"}], "limit": 2, "others": true}),
    )
    .await;
    assert_eq!(rows(&answer), json!([["王五", 2, 300], ["张三", 2, 300]]));
    let others = answer.others.expect("others");
    assert_eq!(others.groups, 2);
    assert_eq!(json!(others.values), json!([null, 2, 60]));
    // Fewer rows than the limit: no others.
    let answer = chart(&c.ctx, json!({"entity": "visit", "chart": "pie",
        "dimensions": [{"field": "status"}], "measures": [{"agg": "count"}], "limit": 5, "others": true})).await;
    assert!(answer.others.is_none());
    // Averages cannot be summed.
    let err = chart_as(
        &c.ctx,
        &c.ctx.admin,
        json!({"entity": "visit", "chart": "bar",
        "dimensions": [{"field": "status"}], "measures": [{"agg": "avg", "field": "amount"}],
        "limit": 1, "others": true}),
    )
    .await
    .unwrap_err();
    assert_eq!(detail_codes(&err)[0].1, "not_additive");

    // A table a page at a time, in pinyin order.
    let answer = chart(&c.ctx, json!({"entity": "patient", "chart": "table",
        "dimensions": [{"field": "name"}], "measures": [{"agg": "count"}], "page": 2, "per_page": 3})).await;
    assert_eq!(
        (answer.page, answer.per_page, answer.total),
        (Some(2), Some(3), Some(4))
    );
    assert_eq!(rows(&answer), json!([["赵六", 1]]));
    let answer = chart(
        &c.ctx,
        json!({"entity": "patient", "chart": "table",
        "dimensions": [{"field": "name"}], "measures": [{"agg": "count"}], "per_page": 3}),
    )
    .await;
    assert_eq!(
        rows(&answer),
        json!([["李四", 1], ["王五", 1], ["张三", 1]])
    );
}

async fn empty_buckets_are_filled(backend: Backend) {
    let c = clinic(backend).await;
    // Without the cancelled December visit, December is answered empty: count and sum 0,
    // the average null. A month whose amounts are all empty sums to null.
    let answer = chart(&c.ctx, json!({"entity": "visit", "chart": "line",
        "dimensions": [{"field": "visit_time", "bucket": "month"}],
        "measures": [{"agg": "count"}, {"agg": "sum", "field": "amount"}, {"agg": "avg", "field": "amount"}],
        "filters": {"field": "status", "op": "eq", "value": "completed"}})).await;
    assert_eq!(answer.filled, Some(true));
    assert_eq!(
        rows(&answer),
        json!([
            ["2026-09-01", 1, 10, 10],
            ["2026-10-01", 1, 100, 100],
            ["2026-11-01", 2, 250, 125],
            ["2026-12-01", 0, 0, null],
            ["2027-01-01", 1, null, null]
        ])
    );
    // The span is the filter's period where one bounds the axis; each series gets each bucket.
    let answer = chart(
        &c.ctx,
        json!({"entity": "visit", "chart": "bar",
        "dimensions": [{"field": "visit_time", "bucket": "month"}, {"field": "status"}],
        "measures": [{"agg": "count"}],
        "filters": {"field": "visit_time", "op": "between",
                    "value": ["2026-10-01T00:00:00+08:00", "2026-12-31T23:59:59+08:00"]}}),
    )
    .await;
    assert_eq!(
        rows(&answer),
        json!([
            ["2026-10-01", "cancelled", 0],
            ["2026-10-01", "completed", 1],
            ["2026-11-01", "cancelled", 0],
            ["2026-11-01", "completed", 2],
            ["2026-12-01", "cancelled", 1],
            ["2026-12-01", "completed", 0]
        ])
    );
    // A dashboard's from/to sets the span too; pie charts are not filled.
    let run = ChartRun {
        period: Some(PeriodOverride {
            field: "visit_time".into(),
            from: Some(date!(2026 - 08 - 01)),
            to: Some(date!(2026 - 11 - 30)),
        }),
        ..ChartRun::default()
    };
    let spec = spec(json!({"entity": "visit", "chart": "area",
        "dimensions": [{"field": "visit_time", "bucket": "month"}], "measures": [{"agg": "count"}]}));
    let answer = c
        .ctx
        .engine
        .run_chart(&c.ctx.admin, &spec, &run)
        .await
        .unwrap();
    assert_eq!(
        rows(&answer),
        json!([
            ["2026-08-01", 0],
            ["2026-09-01", 1],
            ["2026-10-01", 1],
            ["2026-11-01", 2]
        ])
    );
    // Too many buckets: not filled, and said so.
    let answer = chart(
        &c.ctx,
        json!({"entity": "visit", "chart": "bar",
        "dimensions": [{"field": "visit_time", "bucket": "day"}], "measures": [{"agg": "count"}],
        "filters": {"field": "visit_time", "op": "last_n_days", "value": 3000}}),
    )
    .await;
    assert_eq!(answer.filled, Some(false));
    assert_eq!(
        answer.rows.len(),
        4,
        "the visit days up to today (24 November): {:?}",
        answer.rows
    );
}

async fn kpi_compares_periods(backend: Backend) {
    let c = clinic(backend).await;
    c.ctx.clock.set(datetime!(2026-11-24 09:00:00 +08:00));
    let answer = chart(&c.ctx, json!({"entity": "visit", "chart": "kpi",
        "measures": [{"agg": "count"}, {"agg": "sum", "field": "amount"},
                     {"agg": "ratio", "name": "revisit_rate", "filter": {"field": "return_visit", "op": "eq", "value": true}}],
        "period": {"field": "visit_time", "op": "this_month"},
        "compare": ["previous_period", "same_period_last_year"]})).await;
    assert_eq!(rows(&answer), json!([[2, 250, 1.0]]));
    let period = answer.period.unwrap();
    assert_eq!(
        (period.from.as_str(), period.to.as_str()),
        ("2026-11-01", "2026-11-30")
    );
    let cmp = answer.comparisons.unwrap();
    assert_eq!(
        (cmp[0].from.as_str(), cmp[0].to.as_str()),
        ("2026-10-01", "2026-10-31")
    );
    assert_eq!(json!(cmp[0].values), json!([1, 100, 0.0]));
    assert_eq!(json!(cmp[0].change), json!([1.0, 150.0, 1.0]));
    assert_eq!(json!(cmp[0].change_ratio), json!([1.0, 1.5, null]));
    assert_eq!(
        (cmp[1].from.as_str(), cmp[1].to.as_str()),
        ("2025-11-01", "2025-11-30")
    );
    assert_eq!(json!(cmp[1].values), json!([0, null, null]));
    assert_eq!(json!(cmp[1].change), json!([2.0, null, null]));
    assert_eq!(json!(cmp[1].change_ratio), json!([null, null, null]));

    // from/to: the previous period is as many days just before.
    let answer = chart(
        &c.ctx,
        json!({"entity": "visit", "chart": "kpi", "measures": [{"agg": "count"}],
        "period": {"field": "visit_time", "from": "2026-11-01", "to": "2026-11-15"},
        "compare": ["previous_period"]}),
    )
    .await;
    assert_eq!(rows(&answer), json!([[2]]));
    let cmp = answer.comparisons.unwrap();
    assert_eq!(
        (cmp[0].from.as_str(), cmp[0].to.as_str()),
        ("2026-10-17", "2026-10-31")
    );
    assert_eq!(json!(cmp[0].values), json!([1]));
    // A dashboard's from/to replaces the period; the clock moved a month on: this month is December.
    let run = ChartRun {
        period: Some(PeriodOverride {
            field: "visit_time".into(),
            from: Some(date!(2026 - 09 - 01)),
            to: Some(date!(2026 - 10 - 31)),
        }),
        ..ChartRun::default()
    };
    let kpi = spec(
        json!({"entity": "visit", "chart": "kpi", "measures": [{"agg": "count"}],
        "period": {"field": "visit_time", "op": "this_month"}, "compare": ["previous_period"]}),
    );
    let answer = c
        .ctx
        .engine
        .run_chart(&c.ctx.admin, &kpi, &run)
        .await
        .unwrap();
    assert_eq!(rows(&answer), json!([[2]]));
    assert_eq!(answer.comparisons.unwrap()[0].from, "2026-07-02");
    c.ctx.clock.set(datetime!(2026-12-24 09:00:00 +08:00));
    let answer = c
        .ctx
        .engine
        .run_chart(&c.ctx.admin, &kpi, &ChartRun::default())
        .await
        .unwrap();
    assert_eq!(rows(&answer), json!([[1]]));
    assert_eq!(json!(answer.comparisons.unwrap()[0].values), json!([2]));
}

async fn funnel_counts_each_stage(backend: Backend) {
    let c = clinic(backend).await;
    let stages = json!([
        {"name": "all", "label": {"zh": "全部", "en": "All"}},
        {"name": "completed", "filter": {"field": "status", "op": "eq", "value": "completed"}},
        {"name": "returned", "filter": {"field": "return_visit", "op": "eq", "value": true}},
        {"name": "big", "filter": {"field": "amount", "op": "gte", "value": 100}}]);
    let answer = chart(
        &c.ctx,
        json!({"entity": "visit", "chart": "funnel",
        "measures": [{"agg": "count"}], "stages": stages}),
    )
    .await;
    assert_eq!(
        rows(&answer),
        json!([
            ["all", 6, null, 1.0],
            ["completed", 5, 0.8333, 0.8333],
            ["returned", 3, 0.6, 0.5],
            ["big", 1, 0.3333, 0.1667]
        ])
    );
    assert_eq!(answer.labels["stage"]["all"], "全部");
    assert_eq!(answer.labels["stage"]["big"], "big");
    assert_eq!(
        answer.explain.as_ref().map(|e| e.statements.len()),
        None,
        "explain only when asked"
    );
    let answer = chart(
        &c.ctx,
        json!({"entity": "visit", "chart": "funnel",
        "measures": [{"agg": "count_distinct", "field": "patient"}], "stages": stages}),
    )
    .await;
    let counts: Vec<i64> = answer.rows.iter().map(|r| r[1].as_i64().unwrap()).collect();
    assert_eq!(counts, [4, 4, 3, 1]);
    // One statement counts every stage.
    let run = ChartRun {
        explain: true,
        ..ChartRun::default()
    };
    let answer = c.ctx.engine.run_chart(&c.ctx.admin,
        &spec(json!({"entity": "visit", "chart": "funnel", "measures": [{"agg": "count"}], "stages": stages})), &run)
        .await.unwrap();
    let explain = answer.explain.unwrap();
    assert_eq!(explain.statements.len(), 1);
    assert!(
        !explain.statements[0].sql.contains("completed"),
        "values are bound, never shown"
    );
    assert!(
        explain.statements[0].params.iter().any(|p| p == "text"),
        "{:?}",
        explain.statements[0].params
    );
}

async fn pivot_totals(backend: Backend) {
    let c = clinic(backend).await;
    let answer = chart(&c.ctx, json!({"entity": "visit", "chart": "pivot",
        "dimensions": [{"field": "patient.dept"}, {"field": "visit_time", "bucket": "quarter"}],
        "measures": [{"agg": "count"}, {"agg": "sum", "field": "amount"}, {"agg": "avg", "field": "amount"}],
        "totals": true})).await;
    assert_eq!(
        rows(&answer),
        json!([
            ["cardiology", "2026-10-01", 3, 350, 116.67],
            ["oncology", "2026-07-01", 1, 10, 10],
            ["oncology", "2026-10-01", 1, 300, 300],
            ["oncology", "2027-01-01", 1, null, null]
        ])
    );
    let totals = answer.totals.unwrap();
    assert_eq!(
        json!(totals.rows),
        json!([["cardiology", 3, 350, 116.67], ["oncology", 3, 310, 155]])
    );
    assert_eq!(
        json!(totals.columns),
        json!([
            ["2026-07-01", 1, 10, 10],
            ["2026-10-01", 4, 650, 162.5],
            ["2027-01-01", 1, null, null]
        ])
    );
    // The average of all rows, not of the cells.
    assert_eq!(json!(totals.grand), json!([6, 660, 132]));
}

async fn labels_in_the_callers_language(backend: Backend) {
    let c = clinic(backend).await;
    let v = json!({"entity": "patient", "chart": "bar",
        "dimensions": [{"field": "dept"}, {"field": "doctor"}], "measures": [{"agg": "count"}]});
    let answer = chart(&c.ctx, v.clone()).await;
    assert_eq!(answer.labels["dept"]["cardiology"], "心内科");
    assert_eq!(answer.labels["dept"]["oncology"], "肿瘤科");
    assert_eq!(
        answer.labels["doctor"][&c.doctor_wang.to_string()],
        "王医生"
    );
    assert_eq!(answer.labels["doctor"][&c.doctor_li.to_string()], "李医生");
    let run = ChartRun {
        lang: Lang::En,
        ..ChartRun::default()
    };
    let answer = c
        .ctx
        .engine
        .run_chart(&c.ctx.admin, &spec(v), &run)
        .await
        .unwrap();
    assert_eq!(answer.labels["dept"]["cardiology"], "Cardiology");
    // No English label: the Chinese one.
    assert_eq!(answer.labels["dept"]["oncology"], "肿瘤科");
    // Values stay values.
    assert!(answer.rows.iter().any(|r| r[0] == json!("cardiology")));
}

async fn nulls_and_empty_results(backend: Backend) {
    let c = clinic(backend).await;
    let nothing = json!({"field": "status", "op": "eq", "value": "no-such-status"});
    let answer = chart(
        &c.ctx,
        json!({"entity": "visit", "chart": "bar",
        "dimensions": [{"field": "status"}], "measures": [{"agg": "count"}], "filters": nothing}),
    )
    .await;
    assert_eq!(rows(&answer), json!([]));
    let answer = chart(&c.ctx, json!({"entity": "visit", "chart": "kpi",
        "measures": [{"agg": "count"}, {"agg": "sum", "field": "amount"}, {"agg": "median", "field": "amount"},
                     {"agg": "ratio", "filter": {"field": "return_visit", "op": "eq", "value": true}},
                     {"name": "per_visit", "expr": "sum_amount / count"}],
        "filters": nothing})).await;
    assert_eq!(rows(&answer), json!([[0, null, null, null, null]]));
    let answer = chart(&c.ctx, json!({"entity": "visit", "chart": "line",
        "dimensions": [{"field": "visit_time", "bucket": "month"}], "measures": [{"agg": "count"}], "filters": nothing})).await;
    assert_eq!(rows(&answer), json!([]));
    let answer = chart(&c.ctx, json!({"entity": "visit", "chart": "funnel", "filters": nothing,
        "measures": [{"agg": "count"}], "stages": [{"name": "a"}, {"name": "b", "filter": {"field": "return_visit", "op": "eq", "value": true}}]})).await;
    assert_eq!(
        rows(&answer),
        json!([["a", 0, null, null], ["b", 0, null, null]])
    );
}

async fn check_chart_names_what_it_reads(backend: Backend) {
    let c = clinic(backend).await;
    let footprint = c
        .ctx
        .engine
        .check_chart(
            &c.ctx.admin,
            &spec(json!({"entity": "visit", "chart": "bar",
        "dimensions": [{"field": "status"}, {"field": "patient.dept"}],
        "measures": [{"agg": "count"}, {"agg": "sum", "field": "amount"}]})),
        )
        .await
        .unwrap();
    assert_eq!(footprint.entities, ["patient", "visit"]);
    assert_eq!(
        footprint.index_wants.len(),
        1,
        "{:?}",
        footprint.index_wants
    );
    let want = &footprint.index_wants[0];
    assert_eq!(want.entity, "visit");
    assert!(
        want.columns[0].ends_with("status") && want.columns[1].ends_with("amount"),
        "{want:?}"
    );
    let footprint = c
        .ctx
        .engine
        .check_chart(
            &c.ctx.admin,
            &spec(json!({"entity": "patient", "chart": "kpi",
        "measures": [{"agg": "count"}],
        "filters": {"exists": {"entity": "visit", "ref": "patient"}}})),
        )
        .await
        .unwrap();
    assert_eq!(footprint.entities, ["patient", "visit"]);
    assert!(c
        .ctx
        .engine
        .check_chart(
            &c.ctx.admin,
            &spec(json!({"entity": "patient", "chart": "bar",
        "measures": [{"agg": "sum", "field": "name"}]}))
        )
        .await
        .is_err());
    // A dashboard's from alone on a KPI: to is the KPI's own period's end.
    let run = ChartRun {
        period: Some(PeriodOverride {
            field: "visit_time".into(),
            from: Some(date!(2026 - 11 - 10)),
            to: None,
        }),
        ..ChartRun::default()
    };
    let kpi = spec(
        json!({"entity": "visit", "chart": "kpi", "measures": [{"agg": "count"}],
        "period": {"field": "visit_time", "op": "this_month"}}),
    );
    let answer = c
        .ctx
        .engine
        .run_chart(&c.ctx.admin, &kpi, &run)
        .await
        .unwrap();
    assert_eq!(rows(&answer), json!([[1]]));
    let period = answer.period.unwrap();
    assert_eq!(
        (period.from.as_str(), period.to.as_str()),
        ("2026-11-10", "2026-11-30")
    );
}
