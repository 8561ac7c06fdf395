//! Lists: filters on every kind of column, sorts with NULLS LAST, text search, paging.

use crate::support::*;
use kangdao_engine::records::{FilterExpr, ListQuery, SortKey};
use kangdao_engine::EngineError;
use serde_json::{json, Value};

on_both_backends!(filters_sorts_search_and_paging);

struct Lists<'a>(&'a Ctx);

impl Lists<'_> {
    async fn query(&self, filter: Option<Value>, sort: &str, q: Option<&str>) -> Vec<String> {
        let page = list(
            self.0,
            "patient",
            ListQuery {
                filter: filter.map(|f| FilterExpr::parse(f).unwrap()),
                sort: SortKey::parse_list(sort),
                q: q.map(str::to_string),
                per_page: 100,
                count: true,
                ..Default::default()
            },
        )
        .await;
        assert_eq!(page.total, Some(page.items.len() as u64));
        page.items
            .iter()
            .map(|r| r.data["name"].as_str().unwrap().to_string())
            .collect()
    }

    /// The names matching `filter`, sorted.
    async fn names(&self, filter: Value) -> Vec<String> {
        let mut names = self.query(Some(filter.clone()), "", None).await;
        names.sort();
        names
    }

    async fn error(&self, filter: Value, sort: &str) -> EngineError {
        let filter = match FilterExpr::parse(filter) {
            Ok(f) => Some(f),
            Err(e) => return e,
        };
        self.0
            .engine
            .list_records(
                &self.0.admin,
                "patient",
                &ListQuery {
                    filter,
                    sort: SortKey::parse_list(sort),
                    ..Default::default()
                },
            )
            .await
            .expect_err("the list is refused")
    }
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

async fn filters_sorts_search_and_paging(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let rows = [
        json!({"name": "张三", "dept": "cardiology", "total_spent": 100.5, "mrn": "M0",
               "tags": ["diabetes"], "birth_date": "1980-05-01",
               "last_visit": "2026-11-20T10:00:00+08:00", "visit_count": 3,
               "phone": phone(0), "note": "对青霉素过敏"}),
        json!({"name": "李四", "dept": "oncology", "total_spent": 100.51, "tier": "VIP", "mrn": "M1",
               "tags": ["diabetes", "hypertension"], "birth_date": "1975-01-01",
               "visit_count": 1, "phone": phone(1)}),
        json!({"name": "王五", "dept": "cardiology", "total_spent": 5000, "tier": "VIP",
               "birth_date": "1990-12-31", "last_visit": "2026-10-01T08:00:00+08:00",
               "visit_count": 10, "phone": phone(2)}),
        json!({"name": "张小明", "dept": "pediatrics", "total_spent": 0, "mrn": "M3",
               "tags": ["hypertension"], "birth_date": "2015-06-01",
               "last_visit": "2026-11-23T15:30:00+08:00", "phone": phone(3)}),
        json!({"name": "alice", "total_spent": null, "visit_count": 0}),
        json!({"name": "Bob", "dept": "cardiology", "total_spent": 20, "mrn": "M5", "visit_count": 2}),
        json!({"name": "Carol", "dept": "oncology", "total_spent": 300.25, "mrn": "M6"}),
        json!({"name": "Dave", "total_spent": 0}),
    ];
    for (i, row) in rows.iter().enumerate() {
        create(&ctx, "patient", row.clone()).await;
        // Distinct creation times, so the default order (newest first) is defined.
        ctx.clock.advance(time::Duration::seconds(i as i64 + 1));
    }
    let l = Lists(&ctx);

    // Default order: newest first.
    assert_eq!(
        l.query(None, "", None).await,
        vec![
            "Dave",
            "Carol",
            "Bob",
            "alice",
            "张小明",
            "王五",
            "李四",
            "张三"
        ]
    );

    // eq / ne / in on a select.
    assert_eq!(
        l.names(json!({"field": "dept", "op": "eq", "value": "cardiology"}))
            .await,
        sorted(&["张三", "王五", "Bob"])
    );
    assert_eq!(
        l.names(json!({"field": "dept", "op": "ne", "value": "cardiology"}))
            .await,
        sorted(&["李四", "张小明", "alice", "Carol", "Dave"]),
        "ne keeps records without a value"
    );
    assert_eq!(
        l.names(json!({"field": "tier", "op": "in", "value": ["VIP"]}))
            .await,
        sorted(&["李四", "王五"])
    );
    assert_eq!(
        l.names(json!({"field": "tier", "op": "eq", "value": "normal"}))
            .await
            .len(),
        6,
        "the default tier is stored and filterable"
    );

    // Money compares in yuan, exactly.
    assert_eq!(
        l.names(json!({"field": "total_spent", "op": "gt", "value": 100.5}))
            .await,
        sorted(&["李四", "王五", "Carol"])
    );
    assert_eq!(
        l.names(json!({"field": "total_spent", "op": "eq", "value": 100.51}))
            .await,
        sorted(&["李四"])
    );
    assert_eq!(
        l.names(json!({"field": "total_spent", "op": "between", "value": [20, 100.5]}))
            .await,
        sorted(&["张三", "Bob"])
    );
    assert_eq!(
        l.names(json!({"field": "total_spent", "op": "lte", "value": 0}))
            .await,
        sorted(&["张小明", "Dave"])
    );
    assert_eq!(
        l.names(json!({"field": "total_spent", "op": "is_empty"}))
            .await,
        sorted(&["alice"])
    );

    // Integers, dates and datetimes.
    assert_eq!(
        l.names(json!({"field": "visit_count", "op": "gte", "value": 3}))
            .await,
        sorted(&["张三", "王五"])
    );
    assert_eq!(
        l.names(
            json!({"field": "birth_date", "op": "between", "value": ["1980-01-01", "1990-12-31"]})
        )
        .await,
        sorted(&["张三", "王五"])
    );
    assert_eq!(
        l.names(json!({"field": "birth_date", "op": "lt", "value": "1980-01-01"}))
            .await,
        sorted(&["李四"])
    );
    assert_eq!(
        l.names(json!({"field": "last_visit", "op": "gt", "value": "2026-11-01T00:00:00+08:00"}))
            .await,
        sorted(&["张三", "张小明"])
    );
    // The same instant written in UTC compares the same.
    assert_eq!(
        l.names(json!({"field": "last_visit", "op": "gte", "value": "2026-11-23T07:30:00Z"}))
            .await,
        sorted(&["张小明"])
    );
    assert_eq!(
        l.names(json!({"field": "last_visit", "op": "is_empty"}))
            .await,
        sorted(&["李四", "alice", "Bob", "Carol", "Dave"])
    );

    // Text: contains (case-insensitive), starts_with, is_empty.
    assert_eq!(
        l.names(json!({"field": "name", "op": "contains", "value": "小"}))
            .await,
        sorted(&["张小明"])
    );
    assert_eq!(
        l.names(json!({"field": "name", "op": "contains", "value": "AL"}))
            .await,
        sorted(&["alice"])
    );
    assert_eq!(
        l.names(json!({"field": "name", "op": "starts_with", "value": "张"}))
            .await,
        sorted(&["张三", "张小明"])
    );
    assert_eq!(
        l.names(json!({"field": "mrn", "op": "is_empty"})).await,
        sorted(&["王五", "alice", "Dave"])
    );
    assert_eq!(
        l.names(json!({"field": "note", "op": "contains", "value": "青霉素"}))
            .await,
        sorted(&["张三"]),
        "contains on a textarea scans the document"
    );

    // Tags (a side table).
    assert_eq!(
        l.names(json!({"field": "tags", "op": "eq", "value": "diabetes"}))
            .await,
        sorted(&["张三", "李四"])
    );
    assert_eq!(
        l.names(json!({"field": "tags", "op": "in", "value": ["hypertension"]}))
            .await,
        sorted(&["李四", "张小明"])
    );
    assert_eq!(
        l.names(json!({"field": "tags", "op": "is_empty"})).await,
        sorted(&["王五", "alice", "Bob", "Carol", "Dave"])
    );

    // Sensitive phone: eq and in work through the keyed hash.
    assert_eq!(
        l.names(json!({"field": "phone", "op": "eq", "value": phone(3)}))
            .await,
        sorted(&["张小明"])
    );
    assert_eq!(
        l.names(json!({"field": "phone", "op": "in", "value": [phone(0), phone(1), phone(99)]}))
            .await,
        sorted(&["张三", "李四"])
    );
    assert_eq!(
        l.names(json!({"field": "phone", "op": "eq", "value": "+86 139 1000 0003"}))
            .await,
        sorted(&["张小明"]),
        "a phone filter value is normalised like a stored phone"
    );

    // and / or / not.
    assert_eq!(
        l.names(json!({"and": [
            {"field": "dept", "op": "eq", "value": "cardiology"},
            {"not": {"field": "tier", "op": "eq", "value": "VIP"}}
        ]}))
        .await,
        sorted(&["张三", "Bob"])
    );
    assert_eq!(
        l.names(json!({"or": [
            {"field": "dept", "op": "eq", "value": "pediatrics"},
            {"field": "total_spent", "op": "gte", "value": 5000}
        ]}))
        .await,
        sorted(&["王五", "张小明"])
    );

    // Sorts: a text field by its pinyin key (`records::pinyin`), the same on both backends
    // (byte order, COLLATE "C"), NULLS LAST either way.
    assert_eq!(
        l.query(None, "name", None).await,
        vec![
            "alice",
            "Bob",
            "Carol",
            "Dave",
            "李四",
            "王五",
            "张三",
            "张小明"
        ]
    );
    assert_eq!(
        l.query(None, "-total_spent", None).await,
        vec![
            "王五",
            "Carol",
            "李四",
            "张三",
            "Bob",
            // Tied at 0: ties break by id (creation order) in the last key's direction.
            "Dave",
            "张小明",
            "alice"
        ]
    );
    assert_eq!(
        l.query(None, "total_spent,-name", None)
            .await
            .last()
            .map(String::as_str),
        Some("alice"),
        "NULLS LAST ascending too"
    );
    assert_eq!(
        l.query(None, "-visit_count,name", None).await,
        vec![
            "王五",
            "张三",
            "Bob",
            "李四",
            "alice",
            "Carol",
            "Dave",
            "张小明"
        ]
    );

    // q: a case-insensitive substring of text, select and autonumber fields; never sensitive.
    assert_eq!(l.query(None, "", Some("小明")).await, vec!["张小明"]);
    assert_eq!(l.query(None, "", Some("ALI")).await, vec!["alice"]);
    assert_eq!(l.query(None, "", Some("P2026000003")).await, vec!["王五"]);
    assert_eq!(
        l.query(None, "name", Some("oncology")).await,
        vec!["Carol", "李四"]
    );
    assert!(
        l.query(None, "", Some("10000003")).await.is_empty(),
        "q must not search a sensitive phone"
    );
    assert_eq!(
        l.query(
            Some(json!({"field": "dept", "op": "eq", "value": "cardiology"})),
            "",
            Some("张")
        )
        .await,
        vec!["张三"]
    );

    // Paging with a total.
    let all_by_name = l.query(None, "name", None).await;
    for (page, expect) in [(1u64, 0..3), (2, 3..6), (3, 6..8)] {
        let got = list(
            &ctx,
            "patient",
            ListQuery {
                page,
                per_page: 3,
                sort: SortKey::parse_list("name"),
                count: true,
                ..Default::default()
            },
        )
        .await;
        assert_eq!(got.total, Some(8));
        assert_eq!(got.page, page);
        assert_eq!(got.per_page, 3);
        let names: Vec<&str> = got
            .items
            .iter()
            .map(|r| r.data["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, all_by_name[expect].to_vec(), "page {page}");
    }
    let beyond = list(
        &ctx,
        "patient",
        ListQuery {
            page: 9,
            per_page: 3,
            count: true,
            ..Default::default()
        },
    )
    .await;
    assert!(beyond.items.is_empty());
    assert_eq!(beyond.total, Some(8));

    // Deleted records leave lists.
    let dave = list(
        &ctx,
        "patient",
        ListQuery {
            q: Some("Dave".into()),
            ..Default::default()
        },
    )
    .await
    .items
    .remove(0);
    ctx.engine
        .delete_record(&ctx.admin, "patient", dave.id, dave.version)
        .await
        .unwrap();
    assert_eq!(l.query(None, "", None).await.len(), 7);

    // Bad filters and sorts are bad requests.
    for (filter, sort) in [
        (
            json!({"field": "no_such_field", "op": "eq", "value": 1}),
            "",
        ),
        (json!({"field": "name", "op": "no_such_op", "value": 1}), ""),
        (
            json!({"field": "phone", "op": "contains", "value": "139"}),
            "",
        ),
        (json!({"field": "phone", "op": "gt", "value": phone(1)}), ""),
        (
            json!({"field": "total_spent", "op": "gt", "value": "lots"}),
            "",
        ),
        (
            json!({"field": "total_spent", "op": "between", "value": [1]}),
            "",
        ),
        (json!({"field": "name", "op": "eq"}), ""),
        (json!({"bogus": []}), ""),
        (json!({"field": "name", "op": "not_empty"}), "no_such_field"),
        (json!({"field": "name", "op": "not_empty"}), "phone"),
        (json!({"field": "name", "op": "not_empty"}), "-id_number"),
    ] {
        let err = l.error(filter.clone(), sort).await;
        assert!(
            matches!(err, EngineError::BadRequest { .. }),
            "{filter} sort {sort:?}: expected BadRequest, got {err:?}"
        );
    }
}
