//! Random and malformed JSON thrown at record creation and definition upload, and random and
//! malformed chart specs, filters, sorts, searches and page numbers thrown at
//! `POST /api/v1/reports/query` and record lists: never a panic, never a 5xx, always the one
//! error format. Bounded: a fixed number of cases per backend (well under two minutes).

use kangdao_tests::server::{json_of, patient_definition, url_encoded, TestServer};
use kangdao_tests::Backend;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};

const CASES: u32 = 120;
/// Cases of the query fuzz per backend; each sends three requests.
const QUERY_CASES: u32 = 100;

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[\\PC]{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("110105194912310021"),
            Just("13812345678"),
            Just("2026-13-45"),
            Just("cardiology"),
            Just("VIP"),
            Just("name"),
            Just("reference"),
            Just("id_card"),
            Just("01a20f80-f6ae-72b0-a0aa-0e2e033019b0"),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    "[a-z_]{1,10}".boxed(),
                    Just("name".to_string()).boxed(),
                    Just("type".to_string()).boxed(),
                    Just("fields".to_string()).boxed(),
                    Just("phone".to_string()).boxed(),
                    Just("total_spent".to_string()).boxed(),
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A definition close to a valid one, with one part replaced by random JSON.
fn mutated_definition() -> impl Strategy<Value = Value> {
    (any_json(), 0usize..4, 0usize..8).prop_map(|(noise, part, field)| {
        let mut def = patient_definition();
        def["name"] = json!(format!("fuzz_{field}"));
        match part {
            0 => def["fields"][field % 8] = noise,
            1 => def["fields"][field % 8]["type"] = noise,
            2 => def["fields"][field % 8]["options"] = noise,
            _ => def["layout"] = noise,
        }
        def
    })
}

/// Field names: the patient's own, the system columns, and names that are not fields.
fn field_name() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => prop_oneof![
            Just("name"), Just("id_number"), Just("phone"), Just("mrn"), Just("dept"),
            Just("total_spent"), Just("tier"), Just("patient_no"), Just("created_at"),
            Just("updated_at"), Just("id"), Just("version"), Just("deleted_at"),
        ]
        .prop_map(Value::from),
        1 => "[a-z_]{0,12}".prop_map(Value::from),
        1 => Just(json!("na\u{0}me")),
        1 => any_json(),
    ]
}

/// Values a filter may compare with, hostile ones included.
fn filter_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => any_json(),
        1 => Just(json!(i64::MAX)),
        1 => Just(json!(u64::MAX)),
        1 => Just(json!(-1.0e308)),
        1 => Just(json!(1e308)),
        1 => Just(json!("9223372036854775808")),
        1 => Just(json!("a\u{0}b")),
        1 => Just(json!("%_\\'\"")),
        1 => Just(json!(["cardiology", "\u{0}", 1, null])),
        1 => Just(json!([0, i64::MAX])),
        1 => Just(json!("2026-02-30")),
    ]
}

fn filter_op() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => prop_oneof![
            Just("eq"), Just("ne"), Just("gt"), Just("gte"), Just("lt"), Just("lte"),
            Just("in"), Just("not_in"), Just("contains"), Just("starts_with"),
            Just("is_empty"), Just("not_empty"), Just("between"), Just("last_n_days"),
            Just("before_n_days"), Just("next_n_days"), Just("after_n_days"),
            Just("this_week"), Just("this_month"), Just("this_quarter"), Just("this_year"),
            Just("birthday_in_n_days"),
        ]
        .prop_map(Value::from),
        1 => any_json(),
    ]
}

/// A filter expression: mostly well-formed, with malformed parts and nesting mixed in.
fn filter_expr() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        6 => (field_name(), filter_op(), filter_value())
            .prop_map(|(field, op, value)| json!({"field": field, "op": op, "value": value})),
        1 => (field_name(), filter_op()).prop_map(|(field, op)| json!({"field": field, "op": op})),
        1 => any_json(),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| json!({"and": v})),
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| json!({"or": v})),
            inner.clone().prop_map(|v| json!({"not": v})),
            (
                inner.clone(),
                prop_oneof![Just("patient"), Just("nope"), Just("")]
            )
                .prop_map(
                    |(f, e)| json!({"exists": {"entity": e, "ref": "patient", "filters": f}})
                ),
            (inner.clone(), inner).prop_map(|(a, b)| json!({"and": [a], "or": [b]})),
        ]
    })
}

/// `depth` levels of `{"not": …}` around a filter: deep nesting, past any sane bound.
fn deeply_nested(depth: usize) -> Value {
    let mut value = json!({"field": "name", "op": "eq", "value": "x"});
    for _ in 0..depth {
        value = json!({"not": value});
    }
    value
}

/// A chart spec close to a valid one, with random and malformed parts.
fn chart_spec() -> impl Strategy<Value = Value> {
    let dimension = prop_oneof![
        4 => (field_name(), prop_oneof![
            Just(Value::Null), Just(json!("day")), Just(json!("week")), Just(json!("month")),
            Just(json!("quarter")), Just(json!("year")), Just(json!("decade")),
        ])
        .prop_map(|(field, bucket)| {
            if bucket.is_null() {
                json!({"field": field})
            } else {
                json!({"field": field, "bucket": bucket})
            }
        }),
        1 => any_json(),
    ];
    let measure = prop_oneof![
        4 => (prop_oneof![
            Just(json!("count")), Just(json!("count_distinct")), Just(json!("sum")),
            Just(json!("avg")), Just(json!("min")), Just(json!("max")), Just(json!("median")),
            Just(json!("ratio")), Just(json!("mode")),
        ], prop::option::of(field_name()))
        .prop_map(|(agg, field)| match field {
            Some(field) => json!({"agg": agg, "field": field}),
            None => json!({"agg": agg}),
        }),
        1 => any_json(),
    ];
    let sort = prop_oneof![
        3 => ("[a-z_]{0,16}", prop_oneof![Just(json!("asc")), Just(json!("desc")), Just(json!("up")), Just(Value::Null)])
            .prop_map(|(by, dir)| json!({"by": by, "dir": dir})),
        1 => any_json(),
    ];
    let limit = prop_oneof![
        Just(Value::Null),
        (0u64..2000).prop_map(Value::from),
        Just(json!(u64::MAX)),
        Just(json!(-1)),
        Just(json!(1.5)),
        Just(json!("10")),
    ];
    (
        prop_oneof![4 => Just(json!("patient")), 1 => Just(json!("nope")), 1 => any_json()],
        prop::collection::vec(dimension, 0..4),
        prop::collection::vec(measure, 0..4),
        prop::option::of(filter_expr()),
        prop::collection::vec(sort, 0..3),
        limit,
        0usize..12,
    )
        .prop_map(
            |(entity, dimensions, measures, filters, sort, limit, twist)| {
                let mut spec = json!({
                    "entity": entity, "chart": "bar", "dimensions": dimensions,
                    "measures": measures, "sort": sort,
                });
                if let Some(filters) = filters {
                    spec["filters"] = filters;
                }
                if !limit.is_null() {
                    spec["limit"] = limit;
                }
                match twist {
                    0 => spec["filters"] = deeply_nested(40),
                    1 => spec["filters"] = deeply_nested(3000),
                    2 => spec["unknown"] = json!(1),
                    3 => spec["dimensions"] = json!("dept"),
                    _ => {}
                }
                spec
            },
        )
}

/// Query strings for a record list: filter, sort, q and paging, random and malformed.
fn list_query() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        Just(String::new()),
        (0u64..3000).prop_map(|n| n.to_string()),
        Just("9223372036854775807".to_string()),
        Just("18446744073709551616".to_string()),
        Just("-1".to_string()),
        Just("1e9".to_string()),
        "[\\PC]{0,6}",
    ];
    let sort = prop_oneof![
        3 => prop::collection::vec(
            (any::<bool>(), field_name()).prop_map(|(desc, f)| {
                format!("{}{}", if desc { "-" } else { "" }, f.as_str().unwrap_or("x"))
            }),
            0..4
        )
        .prop_map(|keys| keys.join(",")),
        1 => "[\\PC]{0,20}",
    ];
    let filter = prop_oneof![
        4 => filter_expr().prop_map(|f| f.to_string()),
        1 => Just(deeply_nested(3000).to_string()),
        1 => "[\\PC]{0,30}",
    ];
    (
        prop::option::of(filter),
        prop::option::of(sort),
        prop::option::of(prop_oneof![
            "[\\PC]{0,12}",
            Just("张\u{0}".to_string()),
            Just("%".to_string())
        ]),
        number.clone(),
        number,
        prop::option::of(prop_oneof![Just("true"), Just("false"), Just("maybe")]),
    )
        .prop_map(|(filter, sort, q, page, per_page, deleted)| {
            let mut parts = Vec::new();
            if let Some(filter) = filter {
                parts.push(format!("filter={}", url_encoded(&filter)));
            }
            if let Some(sort) = sort {
                parts.push(format!("sort={}", url_encoded(&sort)));
            }
            if let Some(q) = q {
                parts.push(format!("q={}", url_encoded(&q)));
            }
            if !page.is_empty() {
                parts.push(format!("page={}", url_encoded(&page)));
            }
            if !per_page.is_empty() {
                parts.push(format!("per_page={}", url_encoded(&per_page)));
            }
            if let Some(deleted) = deleted {
                parts.push(format!("deleted={deleted}"));
            }
            parts.join("&")
        })
}

/// A 4xx or 5xx answer must be a 4xx in the error format.
async fn answer_is_sound(
    what: &str,
    response: kangdao_tests::server::Answer,
) -> Result<(), TestCaseError> {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response.text().await.unwrap_or_default();
    prop_assert!(status.as_u16() < 500, "{what}: {status} {text}");
    if !status.is_success() {
        prop_assert!(
            content_type.starts_with("application/json"),
            "{what}: {status} {content_type} {text}"
        );
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        prop_assert!(body["error"]["code"].is_string(), "{what}: {text}");
        prop_assert!(body["error"]["message"].is_string(), "{what}: {text}");
        prop_assert!(body["error"]["details"].is_array(), "{what}: {text}");
    }
    Ok(())
}

async fn no_query_breaks_the_server(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    assert_eq!(
        admin
            .post("/api/v1/entities", &patient_definition())
            .await
            .status(),
        201
    );
    for (i, dept) in ["cardiology", "orthopedics", "cardiology"]
        .iter()
        .enumerate()
    {
        let response = admin
            .post(
                "/api/v1/records/patient",
                &json!({"data": {"name": format!("患者{i}"), "mrn": format!("M{i}"),
                                 "dept": dept, "total_spent": 1000 * i, "phone": "13812345678"}}),
            )
            .await;
        assert_eq!(response.status(), 201);
    }
    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config {
        cases: QUERY_CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = tokio::task::block_in_place(|| {
        runner.run(
            &(chart_spec(), list_query(), "[\\PC]{0,60}"),
            |(spec, query, raw)| {
                handle.block_on(async {
                    let response = admin.post("/api/v1/reports/query", &spec).await;
                    answer_is_sound(&format!("reports/query {spec}"), response).await?;
                    let path = format!("/api/v1/records/patient?{query}");
                    let response = admin.get(&path).await;
                    answer_is_sound(&path, response).await?;
                    let response = admin
                        .request(reqwest::Method::POST, "/api/v1/reports/query")
                        .header("content-type", "application/json")
                        .body(raw.clone())
                        .send()
                        .await
                        .expect("raw query");
                    answer_is_sound(&format!("raw reports/query {raw:?}"), response).await?;
                    Ok(())
                })
            },
        )
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    assert_eq!(admin.get("/readyz").await.status(), 200);
    server.stop().await;
}

async fn no_request_breaks_the_server(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    assert_eq!(
        admin
            .post("/api/v1/entities", &patient_definition())
            .await
            .status(),
        201
    );
    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = tokio::task::block_in_place(|| {
        runner.run(
            &(any_json(), mutated_definition(), "[\\PC]{0,40}"),
            |(data, definition, raw)| {
                handle.block_on(async {
                    for (path, body) in [
                        ("/api/v1/records/patient", json!({"data": data.clone()})),
                        ("/api/v1/records/patient", data.clone()),
                        ("/api/v1/entities", definition.clone()),
                        ("/api/v1/entities", data.clone()),
                    ] {
                        let response = admin.post(path, &body).await;
                        let status = response.status();
                        let body = json_of(response).await;
                        prop_assert!(status.as_u16() < 500, "{path}: {status} {body}");
                        if !status.is_success() {
                            prop_assert!(body["error"]["code"].is_string(), "{path}: {body}");
                        }
                    }
                    let response = admin
                        .request(reqwest::Method::POST, "/api/v1/records/patient")
                        .header("content-type", "application/json")
                        .body(raw.clone())
                        .send()
                        .await
                        .expect("raw post");
                    prop_assert!(response.status().as_u16() < 500);
                    let response = admin
                        .request(
                            reqwest::Method::POST,
                            "/api/v1/records/patient/import?dry_run=true",
                        )
                        .body(raw.clone())
                        .send()
                        .await
                        .expect("import");
                    prop_assert!(response.status().as_u16() < 500);
                    Ok(())
                })
            },
        )
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    // Still serving.
    assert_eq!(admin.get("/readyz").await.status(), 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_random_json() {
    no_request_breaks_the_server(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_random_json() {
    no_request_breaks_the_server(Backend::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_random_queries() {
    no_query_breaks_the_server(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_random_queries() {
    no_query_breaks_the_server(Backend::Postgres).await
}
