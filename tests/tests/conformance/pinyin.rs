//! Text fields keep pinyin projections beside their column: lists sort Chinese names by their
//! pinyin (the same on both backends, across pages), `q` also finds them by their initials
//! (张三 by `zs`), every writer fills them, an older database gains them at start-up, and a
//! sensitive text field never has them.

use crate::support::*;
use kangdao_engine::access::{Action, EntityPermission, FieldRule, Principal};
use kangdao_engine::crypto::Keyring;
use kangdao_engine::entities::storage::{index_name, LIVE_INDEX};
use kangdao_engine::records::{ImportOptions, ListQuery, SortKey, UniqueKey};
use kangdao_engine::reports::{ChartRun, ChartSpec};
use kangdao_engine::{Engine, Lang, Settings};
use serde_json::{json, Value};

on_both_backends!(
    names_sort_in_pinyin_order_across_pages,
    q_finds_names_by_their_pinyin_initials,
    the_key_follows_every_writer,
    an_older_database_gains_the_columns_at_start,
    a_sensitive_text_field_gets_no_pinyin_and_a_new_field_does,
    a_hidden_or_masked_name_is_not_found_by_its_initials,
);

/// The six names of the brief, in the order staff expect them.
const PINYIN_ORDER: [&str; 6] = ["alice", "Bob", "李四", "王五", "张三", "张小明"];

fn member_definition() -> Value {
    json!({"name": "member", "label": {"zh": "会员", "en": "Member"}, "fields": [
        {"name": "name", "type": "text", "indexed": true},
        {"name": "nickname", "type": "text"},
        {"name": "code", "type": "text", "unique": true},
        {"name": "secret", "type": "text", "sensitive": true},
        {"name": "dept", "type": "select", "options": [{"value": "a"}, {"value": "b"}]},
    ]})
}

async fn open_with_members(backend: Backend) -> Ctx {
    let ctx = open(backend).await;
    ctx.engine
        .create_entity(&ctx.admin, member_definition(), Lang::En)
        .await
        .expect("create member");
    ctx
}

/// The six names, created in an order that is neither pinyin nor code-point order.
async fn seed_names(ctx: &Ctx) {
    for (i, name) in ["张三", "Bob", "王五", "张小明", "李四", "alice"]
        .iter()
        .enumerate()
    {
        create(
            ctx,
            "member",
            json!({"name": name, "code": format!("C{i}"), "secret": format!("机密{i}"),
                   "dept": if i % 2 == 0 { "a" } else { "b" }}),
        )
        .await;
    }
}

async fn names(ctx: &Ctx, sort: &str, q: Option<&str>, page: u64, per_page: u64) -> Vec<String> {
    list(
        ctx,
        "member",
        ListQuery {
            sort: SortKey::parse_list(sort),
            q: q.map(str::to_string),
            page,
            per_page,
            count: true,
            ..Default::default()
        },
    )
    .await
    .items
    .iter()
    .map(|r| r.data["name"].as_str().unwrap_or_default().to_string())
    .collect()
}

/// The stored sort key and initials of the member named `name`.
async fn keys_of(ctx: &Ctx, field: &str, name: &str) -> (Option<String>, Option<String>) {
    let row = ctx
        .db()
        .fetch_one(
            &format!(
                "SELECT \"f_{field}__pinyin\" AS k, \"f_{field}__initials\" AS i FROM \"e_member\" \
                 WHERE \"f_name\" = $1"
            ),
            vec![name.into()],
        )
        .await
        .unwrap_or_else(|e| panic!("the keys of {name}: {e:?}"));
    (row.text("k").unwrap(), row.text("i").unwrap())
}

async fn columns_of(ctx: &Ctx, table: &str) -> Vec<String> {
    let sql = match ctx.backend() {
        Backend::Sqlite => "SELECT name FROM pragma_table_info($1)",
        Backend::Postgres => {
            "SELECT column_name::text AS name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1"
        }
    };
    ctx.db()
        .fetch_all(sql, vec![table.into()])
        .await
        .unwrap()
        .iter()
        .map(|row| row.req_text("name").unwrap())
        .collect()
}

async fn index_exists(ctx: &Ctx, name: &str) -> bool {
    let sql = match ctx.backend() {
        Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'index' AND name = $1",
        Backend::Postgres => "SELECT indexname AS name FROM pg_indexes WHERE indexname = $1",
    };
    ctx.db()
        .fetch_optional(sql, vec![name.into()])
        .await
        .unwrap()
        .is_some()
}

async fn names_sort_in_pinyin_order_across_pages(backend: Backend) {
    let ctx = open_with_members(backend).await;
    seed_names(&ctx).await;
    assert_eq!(names(&ctx, "name", None, 1, 50).await, PINYIN_ORDER);
    let mut descending = PINYIN_ORDER.to_vec();
    descending.reverse();
    assert_eq!(names(&ctx, "-name", None, 1, 50).await, descending);
    // Page by page, the pages join up to the same order: nothing repeated, nothing skipped.
    let mut paged = Vec::new();
    for page in 1..=3 {
        let got = names(&ctx, "name", None, page, 4).await;
        assert!(got.len() <= 4);
        paged.extend(got);
    }
    assert_eq!(paged, PINYIN_ORDER);
    // Ties on the first key break by the text field's pinyin too.
    assert_eq!(
        names(&ctx, "dept,name", None, 1, 50).await,
        ["李四", "王五", "张三", "alice", "Bob", "张小明"]
    );
    // A chart grouped by a text field lists its groups in pinyin order too.
    let spec: ChartSpec = serde_json::from_value(json!({
        "entity": "member", "chart": "bar",
        "dimensions": [{"field": "name"}],
        "measures": [{"agg": "count"}]
    }))
    .unwrap();
    let chart = ctx
        .engine
        .run_chart(&ctx.admin, &spec, &ChartRun::default())
        .await
        .unwrap();
    let groups: Vec<&str> = chart.rows.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(groups, PINYIN_ORDER);
}

async fn q_finds_names_by_their_pinyin_initials(backend: Backend) {
    let ctx = open_with_members(backend).await;
    seed_names(&ctx).await;
    assert_eq!(names(&ctx, "name", Some("zs"), 1, 50).await, ["张三"]);
    assert_eq!(names(&ctx, "name", Some("ZS"), 1, 50).await, ["张三"]);
    assert_eq!(names(&ctx, "name", Some("zxm"), 1, 50).await, ["张小明"]);
    assert_eq!(names(&ctx, "name", Some("ls"), 1, 50).await, ["李四"]);
    // The text itself is still searched, Latin names by their own letters.
    assert_eq!(names(&ctx, "name", Some("王"), 1, 50).await, ["王五"]);
    assert_eq!(names(&ctx, "name", Some("bo"), 1, 50).await, ["Bob"]);
    // A sensitive text field's initials are nowhere to search: 机密 (jm) finds nothing.
    assert!(names(&ctx, "name", Some("jm"), 1, 50).await.is_empty());
}

async fn the_key_follows_every_writer(backend: Backend) {
    let ctx = open_with_members(backend).await;
    seed_names(&ctx).await;
    assert_eq!(
        keys_of(&ctx, "name", "张三").await,
        (Some("zhang san\u{1}张三".into()), Some("zs".into()))
    );
    assert_eq!(
        keys_of(&ctx, "name", "alice").await,
        (Some("alice\u{1}alice".into()), None)
    );

    // An update: 李四 becomes 赵六 (zhao liu), last in pinyin order, found by `zl`, not `ls`.
    let li = list(
        &ctx,
        "member",
        ListQuery {
            q: Some("李四".into()),
            ..Default::default()
        },
    )
    .await
    .items
    .remove(0);
    ctx.engine
        .update_record(
            &ctx.admin,
            "member",
            li.id,
            obj(json!({"name": "赵六"})),
            li.version,
            Lang::En,
        )
        .await
        .expect("rename");
    assert_eq!(
        keys_of(&ctx, "name", "赵六").await,
        (Some("zhao liu\u{1}赵六".into()), Some("zl".into()))
    );
    assert_eq!(
        names(&ctx, "name", None, 1, 50).await,
        ["alice", "Bob", "王五", "张三", "张小明", "赵六"]
    );
    assert_eq!(names(&ctx, "name", Some("zl"), 1, 50).await, ["赵六"]);
    assert!(names(&ctx, "name", Some("ls"), 1, 50).await.is_empty());

    // An import.
    let csv = "name,code\n陈一,I1\n安二,I2\n";
    let report = ctx
        .engine
        .import_records(
            &ctx.admin,
            "member",
            csv.as_bytes(),
            &ImportOptions {
                dry_run: false,
                atomic: true,
                mapping: None,
            },
            Lang::En,
        )
        .await
        .expect("import");
    assert_eq!(report.imported, 2);
    assert_eq!(
        keys_of(&ctx, "name", "陈一").await,
        (Some("chen yi\u{1}陈一".into()), Some("cy".into()))
    );
    assert_eq!(names(&ctx, "name", Some("ae"), 1, 50).await, ["安二"]);

    // A bulk create.
    ctx.engine
        .create_records_bulk(
            &ctx.admin,
            "member",
            vec![obj(json!({"name": "周七", "code": "B1"}))],
            Lang::En,
        )
        .await
        .expect("bulk create");
    assert_eq!(
        keys_of(&ctx, "name", "周七").await,
        (Some("zhou qi\u{1}周七".into()), Some("zq".into()))
    );

    // An upsert by a unique field, both its update and its create.
    for (code, name) in [("B1", "吴八"), ("U1", "郑九")] {
        ctx.engine
            .upsert_record_by(
                &ctx.admin,
                "member",
                UniqueKey {
                    field: "code",
                    value: code,
                },
                obj(json!({"name": name})),
                None,
                Lang::En,
            )
            .await
            .expect("upsert");
    }
    assert_eq!(keys_of(&ctx, "name", "吴八").await.1, Some("wb".into()));
    assert_eq!(keys_of(&ctx, "name", "郑九").await.1, Some("zj".into()));
    assert_eq!(
        names(&ctx, "name", None, 1, 50).await,
        [
            "alice",
            "安二",
            "Bob",
            "陈一",
            "王五",
            "吴八",
            "张三",
            "张小明",
            "赵六",
            "郑九"
        ]
    );

    // Clearing the text clears its keys.
    let zhang = list(
        &ctx,
        "member",
        ListQuery {
            q: Some("张三".into()),
            ..Default::default()
        },
    )
    .await
    .items
    .remove(0);
    ctx.engine
        .update_record(
            &ctx.admin,
            "member",
            zhang.id,
            obj(json!({"nickname": "三哥"})),
            zhang.version,
            Lang::En,
        )
        .await
        .expect("set a nickname");
    assert_eq!(
        keys_of(&ctx, "nickname", "张三").await,
        (Some("san ge\u{1}三哥".into()), Some("sg".into()))
    );
    ctx.engine
        .update_record(
            &ctx.admin,
            "member",
            zhang.id,
            obj(json!({"nickname": null})),
            zhang.version + 1,
            Lang::En,
        )
        .await
        .expect("clear the nickname");
    assert_eq!(keys_of(&ctx, "nickname", "张三").await, (None, None));
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

async fn an_older_database_gains_the_columns_at_start(backend: Backend) {
    let ctx = open_with_members(backend).await;
    seed_names(&ctx).await;
    // `nickname` is removed from the definition (its column and data stay): it gains its
    // pinyin columns too, so bringing it back works.
    let mut def = member_definition();
    def["fields"]
        .as_array_mut()
        .unwrap()
        .retain(|f| f["name"] != "nickname");
    ctx.engine
        .update_entity(&ctx.admin, "member", def, Lang::En)
        .await
        .expect("remove nickname");

    // Make the database look like one from before pinyin keys: no such columns (nor the
    // index on the key), and no record of having added them.
    let sort_index = index_name(LIVE_INDEX, "e_member", "f_name__pinyin");
    let code_index = index_name(LIVE_INDEX, "e_member", "f_code__pinyin");
    for index in [&sort_index, &code_index] {
        assert!(
            index_exists(&ctx, index).await,
            "an indexed or unique text field indexes its key"
        );
        ctx.db()
            .execute(&format!("DROP INDEX \"{index}\""), vec![])
            .await
            .unwrap();
    }
    for field in ["name", "nickname", "code"] {
        for suffix in ["pinyin", "initials"] {
            ctx.db()
                .execute(
                    &format!("ALTER TABLE \"e_member\" DROP COLUMN \"f_{field}__{suffix}\""),
                    vec![],
                )
                .await
                .unwrap();
        }
    }
    ctx.db()
        .execute("DELETE FROM meta WHERE key = 'pinyin_keys'", vec![])
        .await
        .unwrap();
    assert!(!columns_of(&ctx, "e_member")
        .await
        .contains(&"f_name__pinyin".to_string()));

    let engine = reopen(&ctx).await;
    let columns = columns_of(&ctx, "e_member").await;
    for field in ["name", "nickname", "code"] {
        for suffix in ["pinyin", "initials"] {
            let column = format!("f_{field}__{suffix}");
            assert!(columns.contains(&column), "{column} is back: {columns:?}");
        }
    }
    assert!(index_exists(&ctx, &sort_index).await);
    assert!(index_exists(&ctx, &code_index).await);
    assert!(
        !index_exists(
            &ctx,
            &index_name(LIVE_INDEX, "e_member", "f_nickname__pinyin")
        )
        .await,
        "a field neither indexed nor unique has no index on its key"
    );
    // Filled from the documents, so sorting and `q` work at once.
    assert_eq!(
        keys_of(&ctx, "name", "张小明").await,
        (
            Some("zhang xiao ming\u{1}张小明".into()),
            Some("zxm".into())
        )
    );
    let after = Ctx {
        engine,
        clock: ctx.clock.clone(),
        fresh: ctx.fresh,
        admin: ctx.admin.clone(),
    };
    assert_eq!(names(&after, "name", None, 1, 50).await, PINYIN_ORDER);
    assert_eq!(names(&after, "name", Some("zs"), 1, 50).await, ["张三"]);
    let marker = after
        .db()
        .fetch_one("SELECT value FROM meta WHERE key = 'pinyin_keys'", vec![])
        .await
        .unwrap();
    assert_eq!(marker.req_text("value").unwrap(), "1");
    // The removed field comes back, written like any other.
    after
        .engine
        .update_entity(&after.admin, "member", member_definition(), Lang::En)
        .await
        .expect("bring nickname back");
    create(
        &after,
        "member",
        json!({"name": "钱十", "nickname": "十哥"}),
    )
    .await;
    assert_eq!(
        keys_of(&after, "nickname", "钱十").await,
        (Some("shi ge\u{1}十哥".into()), Some("sg".into()))
    );
}

async fn a_sensitive_text_field_gets_no_pinyin_and_a_new_field_does(backend: Backend) {
    let ctx = open_with_members(backend).await;
    seed_names(&ctx).await;
    let columns = columns_of(&ctx, "e_member").await;
    assert!(columns.contains(&"f_name__pinyin".to_string()));
    assert!(columns.contains(&"f_name__initials".to_string()));
    assert!(columns.contains(&"f_secret".to_string()));
    assert!(
        !columns.iter().any(|c| c.starts_with("f_secret__")),
        "a sensitive text field has no pinyin columns: {columns:?}"
    );
    // Nor do fields of other types.
    assert!(!columns.iter().any(|c| c.starts_with("f_dept__")));
    // Nowhere in the table does the sensitive plaintext (or its pinyin) appear.
    let dump = dump_all_tables(&ctx).await;
    assert!(
        !dump
            .iter()
            .any(|(_, row)| row.contains("机密") || row.contains("ji mi")),
        "the sensitive text stays encrypted"
    );

    // A text field added later gets its columns, backfilled for the records already there.
    let mut def = member_definition();
    def["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "alias", "type": "text", "indexed": true}));
    ctx.engine
        .update_entity(&ctx.admin, "member", def.clone(), Lang::En)
        .await
        .expect("add alias");
    assert!(index_exists(&ctx, &index_name(LIVE_INDEX, "e_member", "f_alias__pinyin")).await);
    let li = list(
        &ctx,
        "member",
        ListQuery {
            q: Some("李四".into()),
            ..Default::default()
        },
    )
    .await
    .items
    .remove(0);
    ctx.engine
        .update_record(
            &ctx.admin,
            "member",
            li.id,
            obj(json!({"alias": "老李"})),
            li.version,
            Lang::En,
        )
        .await
        .unwrap();
    assert_eq!(
        keys_of(&ctx, "alias", "李四").await,
        (Some("lao li\u{1}老李".into()), Some("ll".into()))
    );
}

/// A reader of members whose role gives `name` the rule `rule`.
fn reader_with_name(rule: FieldRule) -> Principal {
    let permission: EntityPermission = serde_json::from_value(json!({
        "entity": "member", "actions": ["read"], "fields": {"name": rule}
    }))
    .unwrap();
    assert_eq!(permission.actions, [Action::Read]);
    Principal {
        is_admin: false,
        actor: "reader".into(),
        username: "reader".into(),
        permissions: vec![permission],
        ..Principal::system()
    }
}

async fn a_hidden_or_masked_name_is_not_found_by_its_initials(backend: Backend) {
    let ctx = open_with_members(backend).await;
    seed_names(&ctx).await;
    let search = |principal: Principal, q: &'static str, sort: &'static str| {
        let engine = ctx.engine.clone();
        async move {
            engine
                .list_records(
                    &principal,
                    "member",
                    &ListQuery {
                        q: Some(q.into()),
                        sort: SortKey::parse_list(sort),
                        ..Default::default()
                    },
                )
                .await
                .map(|page| page.items.len())
        }
    };
    assert_eq!(
        search(reader_with_name(FieldRule::Read), "zs", "")
            .await
            .unwrap(),
        1
    );
    // `q` searches only what the reader sees plainly: a hidden or masked name's initials
    // would tell what the name is.
    for rule in [FieldRule::Hidden, FieldRule::Masked] {
        assert_eq!(
            search(reader_with_name(rule), "zs", "").await.unwrap(),
            0,
            "{rule:?}"
        );
        // Nor may such a reader sort by it, and so read its pinyin order.
        let refused = search(reader_with_name(rule), "", "name")
            .await
            .unwrap_err();
        assert_eq!(detail_fields(&refused), ["name"], "{rule:?}");
    }
}
