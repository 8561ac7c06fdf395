//! Projection indexes are partial over live rows (`WHERE deleted_at IS NULL`), composite
//! `(dimension, measure, id)` indexes make group-bys index-only, composite `(select, created_at, id)`
//! indexes serve a filtered newest-first page without sorting, an older database's indexes are
//! brought to the current layout at start-up, and large writes refresh the planner's statistics.

use crate::support::*;
use kangdao_engine::crypto::Keyring;
use kangdao_engine::entities::storage::{index_name, table_name};
use kangdao_engine::records::{ImportOptions, ListQuery, SortKey};
use kangdao_engine::{Engine, Lang, Settings};
use serde_json::json;
use std::collections::BTreeMap;

on_both_backends!(
    every_projection_index_is_partial_over_live_rows,
    an_older_plain_index_is_rebuilt_as_partial_at_start,
    a_count_and_sum_by_dimension_reads_only_an_index,
    a_filtered_newest_first_page_walks_an_index_without_sorting,
    records_created_in_the_same_instant_list_newest_first,
    a_large_import_refreshes_statistics,
    a_large_bulk_create_and_a_backfill_refresh_statistics_a_small_one_does_not,
);

fn member_definition() -> serde_json::Value {
    json!({"name": "member", "label": {"zh": "会员", "en": "Member"}, "fields": [
        {"name": "name", "type": "text"},
        {"name": "code", "type": "text", "unique": true},
        {"name": "dept", "type": "select", "indexed": true,
         "options": [{"value": "cardiology"}, {"value": "oncology"}, {"value": "pediatrics"}]},
        {"name": "tier", "type": "select", "indexed": true,
         "options": [{"value": "normal"}, {"value": "VIP"}]},
        {"name": "total_spent", "type": "money", "indexed": true},
        {"name": "visits", "type": "integer"},
        {"name": "referrer", "type": "reference", "entity": "patient"},
    ]})
}

async fn open_with_members(backend: Backend) -> Ctx {
    let ctx = open_with_entities(backend).await;
    ctx.engine
        .create_entity(&ctx.admin, member_definition(), Lang::En)
        .await
        .expect("create member");
    ctx
}

fn member_docs(n: usize, offset: usize) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let depts = ["cardiology", "oncology", "pediatrics"];
    (offset..offset + n)
        .map(|i| {
            obj(json!({
                "name": format!("会员{i}"),
                "code": format!("C{i:06}"),
                "dept": depts[i % 3],
                "tier": if i % 10 == 0 { "VIP" } else { "normal" },
                "total_spent": ((i * 37) % 20_000) as f64,
                "visits": i % 7,
            }))
        })
        .collect()
}

async fn seed_members(ctx: &Ctx, n: usize) {
    ctx.engine
        .create_records_bulk(&ctx.admin, "member", member_docs(n, 0), Lang::En)
        .await
        .expect("bulk create members");
}

/// Every index of `table` but the primary key: name → (indexed columns, partial over live rows).
async fn indexes_of(ctx: &Ctx, table: &str) -> BTreeMap<String, (Vec<String>, bool)> {
    let rows = match ctx.backend() {
        Backend::Sqlite => ctx
            .db()
            .fetch_all(
                "SELECT name, sql AS def FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 AND sql IS NOT NULL",
                vec![table.into()],
            )
            .await
            .unwrap(),
        Backend::Postgres => ctx
            .db()
            .fetch_all(
                "SELECT indexname AS name, indexdef AS def FROM pg_indexes WHERE tablename = $1 \
                 AND indexname NOT LIKE '%_pkey'",
                vec![table.into()],
            )
            .await
            .unwrap(),
    };
    rows.iter()
        .map(|row| {
            let def = row.req_text("def").unwrap().replace('"', "");
            let (head, predicate) = def.split_once(" WHERE ").unwrap_or((def.as_str(), ""));
            let mut columns: Vec<String> = head
                .rsplit_once('(')
                .map(|(_, cols)| cols.trim_end_matches(')'))
                .unwrap_or("")
                .split(',')
                .map(|c| c.trim().to_string())
                .collect();
            // SQLite keys live-row indexes on `deleted_at` too, so they cover the test of it.
            if ctx.backend() == Backend::Sqlite
                && columns.len() > 1
                && columns.last().map(String::as_str) == Some("deleted_at")
            {
                columns.pop();
            }
            let partial = predicate
                .replace(['(', ')'], "")
                .eq_ignore_ascii_case("deleted_at IS NULL");
            (row.req_text("name").unwrap(), (columns, partial))
        })
        .collect()
}

fn has_index(
    indexes: &BTreeMap<String, (Vec<String>, bool)>,
    columns: &[&str],
) -> Option<(String, bool)> {
    indexes
        .iter()
        .find(|(_, (cols, _))| cols.iter().map(String::as_str).eq(columns.iter().copied()))
        .map(|(name, (_, partial))| (name.clone(), *partial))
}

async fn every_projection_index_is_partial_over_live_rows(backend: Backend) {
    let ctx = open_with_members(backend).await;
    let indexes = indexes_of(&ctx, "e_member").await;
    for columns in [
        &["created_at"][..],
        &["updated_at"],
        &["f_code"],
        &["f_dept"],
        &["f_tier"],
        &["f_total_spent"],
        &["f_referrer"],
        &["f_dept", "f_total_spent", "id"],
        &["f_tier", "f_total_spent", "id"],
        &["f_dept", "created_at", "id"],
        &["f_tier", "created_at", "id"],
    ] {
        let found = has_index(&indexes, columns);
        assert_eq!(
            found.as_ref().map(|(_, partial)| *partial),
            Some(true),
            "{columns:?} has a partial index over live rows: {indexes:?}"
        );
    }
    assert!(
        indexes.values().all(|(_, partial)| *partial),
        "no plain projection index is left: {indexes:?}"
    );
    // A field not indexed gets no index, and no composite pairs with it.
    assert!(has_index(&indexes, &["f_visits"]).is_none());
    assert!(has_index(&indexes, &["f_dept", "f_visits"]).is_none());
    assert!(has_index(&indexes, &["f_visits", "created_at", "id"]).is_none());

    // A field added later is indexed the same way, with its composite pair.
    let mut def = member_definition();
    def["fields"].as_array_mut().unwrap().push(
        json!({"name": "region", "type": "select", "indexed": true, "options": [{"value": "north"}, {"value": "south"}]}),
    );
    ctx.engine
        .update_entity(&ctx.admin, "member", def, Lang::En)
        .await
        .expect("add a field");
    let indexes = indexes_of(&ctx, "e_member").await;
    assert_eq!(
        has_index(&indexes, &["f_region"]).map(|(_, p)| p),
        Some(true)
    );
    assert_eq!(
        has_index(&indexes, &["f_region", "f_total_spent", "id"]).map(|(_, p)| p),
        Some(true),
        "{indexes:?}"
    );
    assert_eq!(
        has_index(&indexes, &["f_region", "created_at", "id"]).map(|(_, p)| p),
        Some(true),
        "{indexes:?}"
    );
    // The reference field of `visit` too.
    let visit = indexes_of(&ctx, "e_visit").await;
    assert_eq!(
        has_index(&visit, &["f_patient"]).map(|(_, p)| p),
        Some(true)
    );
}

async fn reopen(ctx: &Ctx) -> Engine {
    Engine::open(
        connect(&ctx.fresh.url).await,
        Keyring::from_master(&MASTER),
        ctx.clock.clone(),
        Settings::default(),
    )
    .await
    .expect("reopen the engine")
}

async fn an_older_plain_index_is_rebuilt_as_partial_at_start(backend: Backend) {
    let ctx = open_with_members(backend).await;
    seed_members(&ctx, 50).await;
    // Make the database look like an older one: plain indexes named `ix_…`, no composite,
    // and no record of the rebuild.
    let table = table_name("member");
    let before = indexes_of(&ctx, &table).await;
    let db = ctx.db();
    for columns in [
        &["created_at"][..],
        &["f_dept"],
        &["f_dept", "f_total_spent", "id"],
        &["f_dept", "created_at", "id"],
    ] {
        let (name, _) = has_index(&before, columns).unwrap();
        db.execute(&format!("DROP INDEX \"{name}\""), vec![])
            .await
            .unwrap();
    }
    for column in ["created_at", "f_dept"] {
        db.execute(
            &format!(
                "CREATE INDEX \"{}\" ON \"{table}\" (\"{column}\")",
                index_name("ix", &table, column)
            ),
            vec![],
        )
        .await
        .unwrap();
    }
    db.execute(
        "UPDATE entity_fields SET plain_index = $1 WHERE entity = 'member' AND field = 'dept'",
        vec![index_name("ix", &table, "f_dept").into()],
    )
    .await
    .unwrap();
    db.execute("DELETE FROM meta WHERE key = 'live_indexes'", vec![])
        .await
        .unwrap();
    let old = indexes_of(&ctx, &table).await;
    assert_eq!(has_index(&old, &["f_dept"]).map(|(_, p)| p), Some(false));

    let engine = reopen(&ctx).await;
    let after = indexes_of(&ctx, &table).await;
    assert!(
        after.values().all(|(_, partial)| *partial),
        "every index is partial after the start: {after:?}"
    );
    assert!(
        !after.keys().any(|name| name.starts_with("ix_")),
        "{after:?}"
    );
    let (dept, _) = has_index(&after, &["f_dept"]).expect("the dept index is rebuilt");
    assert!(has_index(&after, &["created_at"]).is_some());
    assert!(has_index(&after, &["f_dept", "f_total_spent", "id"]).is_some());
    assert!(has_index(&after, &["f_dept", "created_at", "id"]).is_some());
    let recorded = db
        .fetch_one(
            "SELECT plain_index FROM entity_fields WHERE entity = 'member' AND field = 'dept'",
            vec![],
        )
        .await
        .unwrap()
        .req_text("plain_index")
        .unwrap();
    assert_eq!(recorded, dept, "entity_fields names the new index");
    assert!(db
        .fetch_optional("SELECT value FROM meta WHERE key = 'live_indexes'", vec![])
        .await
        .unwrap()
        .is_some());
    // A database at the first layout (live-row and `(dimension, measure)` indexes only) gains
    // the newest-first composites and has its `(dimension, measure)` ones keyed on id too at the
    // next start.
    let (tier_newest, _) = has_index(&after, &["f_tier", "created_at", "id"]).unwrap();
    let (tier_measure, _) = has_index(&after, &["f_tier", "f_total_spent", "id"]).unwrap();
    for index in [&tier_newest, &tier_measure] {
        db.execute(&format!("DROP INDEX \"{index}\""), vec![])
            .await
            .unwrap();
    }
    let layout_one =
        kangdao_engine::entities::storage::LiveIndex::on(&table, &["f_tier", "f_total_spent"]);
    db.execute(&layout_one.create_sql(&table, db.backend(), false), vec![])
        .await
        .unwrap();
    db.execute(
        "UPDATE meta SET value = '1' WHERE key = 'live_indexes'",
        vec![],
    )
    .await
    .unwrap();
    drop(engine);
    let engine = reopen(&ctx).await;
    let layout_two = indexes_of(&ctx, &table).await;
    assert!(
        has_index(&layout_two, &["f_tier", "created_at", "id"]).is_some(),
        "{layout_two:?}"
    );
    assert!(
        has_index(&layout_two, &["f_tier", "f_total_spent", "id"]).is_some(),
        "{layout_two:?}"
    );
    assert!(
        has_index(&layout_two, &["f_tier", "f_total_spent"]).is_none(),
        "the layout-1 index is replaced: {layout_two:?}"
    );
    assert_eq!(
        db.fetch_one("SELECT value FROM meta WHERE key = 'live_indexes'", vec![])
            .await
            .unwrap()
            .req_text("value")
            .unwrap(),
        "2"
    );
    // The rebuild runs once: an index dropped by hand afterwards is not rebuilt at the next start.
    db.execute(&format!("DROP INDEX \"{dept}\""), vec![])
        .await
        .unwrap();
    drop(engine);
    let _again = reopen(&ctx).await;
    assert!(has_index(&indexes_of(&ctx, &table).await, &["f_dept"]).is_none());
}

/// The query plan's text.
async fn plan(ctx: &Ctx, sql: &str) -> String {
    let mut conn = ctx.db().acquire().await.unwrap();
    let mut conn = conn.conn();
    let rows = match ctx.backend() {
        Backend::Sqlite => {
            conn.execute("ANALYZE", vec![]).await.unwrap();
            conn.fetch_all(&format!("EXPLAIN QUERY PLAN {sql}"), vec![])
                .await
                .unwrap()
                .iter()
                .map(|r| r.req_text("detail").unwrap())
                .collect::<Vec<_>>()
        }
        Backend::Postgres => {
            // Tiny tables are scanned whatever the indexes: ask the planner for its index plan,
            // with the visibility map and statistics of a settled table.
            conn.execute("VACUUM ANALYZE \"e_member\"", vec![])
                .await
                .unwrap();
            conn.execute("SET enable_seqscan = off", vec![])
                .await
                .unwrap();
            conn.execute("SET enable_bitmapscan = off", vec![])
                .await
                .unwrap();
            let rows = conn
                .fetch_all(&format!("EXPLAIN {sql}"), vec![])
                .await
                .unwrap()
                .iter()
                .map(|r| r.req_text("QUERY PLAN").unwrap())
                .collect::<Vec<_>>();
            conn.execute("RESET ALL", vec![]).await.unwrap();
            rows
        }
    };
    rows.join("\n")
}

async fn a_count_and_sum_by_dimension_reads_only_an_index(backend: Backend) {
    let ctx = open_with_members(backend).await;
    seed_members(&ctx, 300).await;
    let indexes = indexes_of(&ctx, "e_member").await;
    let (dept_measure, _) = has_index(&indexes, &["f_dept", "f_total_spent", "id"]).unwrap();
    let (tier_measure, _) = has_index(&indexes, &["f_tier", "f_total_spent", "id"]).unwrap();
    let by_dept = plan(
        &ctx,
        "SELECT \"f_dept\", COUNT(*), SUM(\"f_total_spent\") FROM \"e_member\" \
         WHERE \"deleted_at\" IS NULL GROUP BY \"f_dept\"",
    )
    .await;
    let vip = plan(
        &ctx,
        "SELECT COUNT(*) FROM \"e_member\" WHERE \"deleted_at\" IS NULL \
         AND \"f_tier\" = 'VIP' AND \"f_total_spent\" > 500000",
    )
    .await;
    match backend {
        Backend::Sqlite => {
            assert!(
                by_dept.contains(&format!("USING COVERING INDEX {dept_measure}")),
                "{by_dept}"
            );
            assert!(
                vip.contains(&format!("USING COVERING INDEX {tier_measure}")),
                "{vip}"
            );
        }
        Backend::Postgres => {
            assert!(
                by_dept.contains(&format!("Index Only Scan using {dept_measure}")),
                "{by_dept}"
            );
            assert!(
                vip.contains(&format!("Index Only Scan using {tier_measure}")),
                "{vip}"
            );
        }
    }
}

async fn a_filtered_newest_first_page_walks_an_index_without_sorting(backend: Backend) {
    let ctx = open_with_members(backend).await;
    seed_members(&ctx, 2_000).await;
    let indexes = indexes_of(&ctx, "e_member").await;
    let (tier_newest, _) = has_index(&indexes, &["f_tier", "created_at", "id"]).unwrap();
    // The page the engine asks for with `tier = VIP and total_spent > 5000` in the default
    // order (`records_created_in_the_same_instant_list_newest_first` checks that order).
    let page = plan(
        &ctx,
        "SELECT \"id\", \"data\" FROM \"e_member\" WHERE \"deleted_at\" IS NULL \
         AND \"f_tier\" = 'VIP' AND \"f_total_spent\" > 500000 \
         ORDER BY \"created_at\" DESC, \"id\" DESC LIMIT 50",
    )
    .await;
    match backend {
        Backend::Sqlite => {
            assert!(
                page.contains(&format!("USING INDEX {tier_newest}")),
                "{page}"
            );
            assert!(!page.contains("TEMP B-TREE"), "no sort: {page}");
        }
        Backend::Postgres => {
            assert!(
                page.contains(&format!("Index Scan Backward using {tier_newest}")),
                "{page}"
            );
            assert!(!page.contains("Sort"), "no sort: {page}");
        }
    }
}

async fn records_created_in_the_same_instant_list_newest_first(backend: Backend) {
    let ctx = open_with_members(backend).await;
    // The test clock stands still: every record shares one `created_at`, and the ids (UUIDv7,
    // in creation order) decide. A newest-first list shows the last created first; an
    // ascending sort breaks its ties the other way.
    let mut created = Vec::new();
    for doc in member_docs(5, 0) {
        let record = ctx
            .engine
            .create_record(&ctx.admin, "member", doc, Lang::En)
            .await
            .expect("create");
        created.push(record.id);
    }
    let list = |sort: &'static str| {
        let ctx = &ctx;
        async move {
            let query = ListQuery {
                page: 1,
                per_page: 10,
                sort: SortKey::parse_list(sort),
                ..ListQuery::default()
            };
            ctx.engine
                .list_records(&ctx.admin, "member", &query)
                .await
                .expect("list")
                .items
                .iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        }
    };
    let newest_first: Vec<_> = created.iter().rev().copied().collect();
    assert_eq!(list("").await, newest_first);
    assert_eq!(list("-created_at").await, newest_first);
    assert_eq!(list("created_at").await, created);
}

/// Whether the planner holds statistics for `table` that were gathered by `ANALYZE`.
async fn analyze_count(ctx: &Ctx, table: &str) -> i64 {
    match ctx.backend() {
        Backend::Sqlite => {
            let has_stats = scalar_i64(
                ctx,
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'sqlite_stat1'",
            )
            .await;
            if has_stats == 0 {
                return 0;
            }
            scalar_i64(
                ctx,
                &format!("SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = '{table}'"),
            )
            .await
        }
        Backend::Postgres => {
            // The statistics views are fed asynchronously: wait a little for the report.
            let sql =
                format!("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = '{table}'");
            scalar_i64(ctx, &sql).await
        }
    }
}

async fn wait_for_analyze(ctx: &Ctx, table: &str, above: i64) -> i64 {
    let mut seen = analyze_count(ctx, table).await;
    for _ in 0..50 {
        if seen > above {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        seen = analyze_count(ctx, table).await;
    }
    seen
}

async fn a_large_import_refreshes_statistics(backend: Backend) {
    let ctx = open_with_members(backend).await;
    assert_eq!(analyze_count(&ctx, "e_member").await, 0);
    let mut csv = String::from("name,code,dept,tier,total_spent\n");
    for i in 0..1_000 {
        csv.push_str(&format!(
            "会员{i},C{i:06},{},{},{}.50\n",
            ["cardiology", "oncology", "pediatrics"][i % 3],
            if i % 10 == 0 { "VIP" } else { "normal" },
            i * 13 % 20_000
        ));
    }
    let report = ctx
        .engine
        .import_records(
            &ctx.admin,
            "member",
            csv.as_bytes(),
            &ImportOptions {
                atomic: true,
                ..Default::default()
            },
            Lang::En,
        )
        .await
        .expect("import");
    assert_eq!(report.imported, 1_000, "{:?}", report.errors);
    assert!(
        wait_for_analyze(&ctx, "e_member", 0).await > 0,
        "the import of 1,000 rows analysed the table"
    );
}

async fn a_large_bulk_create_and_a_backfill_refresh_statistics_a_small_one_does_not(
    backend: Backend,
) {
    let ctx = open_with_members(backend).await;
    // 50 rows: below the bound, whatever share of the table they are.
    ctx.engine
        .create_records_bulk(&ctx.admin, "member", member_docs(50, 0), Lang::En)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        analyze_count(&ctx, "e_member").await,
        0,
        "50 rows: no ANALYZE"
    );
    // 1,000 rows: analysed.
    ctx.engine
        .create_records_bulk(&ctx.admin, "member", member_docs(1_000, 50), Lang::En)
        .await
        .unwrap();
    let after_bulk = wait_for_analyze(&ctx, "e_member", 0).await;
    assert!(
        after_bulk > 0,
        "the bulk create of 1,000 rows analysed the table"
    );
    // A new indexed field on a table of 1,050 rows: its backfill analyses the table again.
    let mut def = member_definition();
    def["fields"].as_array_mut().unwrap().push(
        json!({"name": "region", "type": "select", "indexed": true, "options": [{"value": "north"}]}),
    );
    ctx.engine
        .update_entity(&ctx.admin, "member", def, Lang::En)
        .await
        .expect("add a field");
    match backend {
        Backend::Sqlite => {
            let region = index_name("lx", "e_member", "f_region");
            let rows = scalar_i64(
                &ctx,
                &format!("SELECT COUNT(*) FROM sqlite_stat1 WHERE idx = '{region}'"),
            )
            .await;
            assert_eq!(
                rows, 1,
                "the new field's index has statistics after the backfill"
            );
        }
        Backend::Postgres => {
            assert!(
                wait_for_analyze(&ctx, "e_member", after_bulk).await > after_bulk,
                "the backfill analysed the table again"
            );
        }
    }
}
