//! A formula may not read a sensitive field: the definition is refused at save, naming both
//! fields, and a read the save-time check cannot see finds nothing, so an ID number never
//! reaches a document, its history or the projection in plaintext.

use crate::support::*;
use kangdao_engine::{EngineError, Lang};
use serde_json::json;

on_both_backends!(formulas_never_copy_sensitive_values);

async fn formulas_never_copy_sensitive_values(backend: Backend) {
    let ctx = open(backend).await;
    for expr in [
        "record.id_number",
        "record?.id_number.sub_string(0, 6)",
        "record[\"id_number\"]",
        "`${record.phone}`",
    ] {
        let def = json!({"name": "person", "fields": [
            {"name": "id_number", "type": "id_card"},
            {"name": "phone", "type": "phone"},
            {"name": "copy", "type": "formula", "expr": expr, "result": "text"}
        ]});
        let err = ctx
            .engine
            .create_entity(&ctx.admin, def, Lang::En)
            .await
            .unwrap_err();
        let EngineError::BadRequest { details, .. } = &err else {
            panic!("{expr}: {err:?}")
        };
        let detail = details
            .iter()
            .find(|d| d.code == "sensitive_in_formula")
            .unwrap_or_else(|| panic!("{expr}: {details:?}"));
        assert_eq!(detail.field, "fields.2.expr");
        assert!(detail.message.contains("copy"), "{}", detail.message);
        assert!(
            detail.message.contains("id_number") || detail.message.contains("phone"),
            "{}",
            detail.message
        );
    }

    // A read by a computed key passes the save-time check but finds nothing.
    let def = json!({"name": "person", "fields": [
        {"name": "name", "type": "text"},
        {"name": "id_number", "type": "id_card"},
        {"name": "copy", "type": "formula", "result": "text",
         "expr": "let k = \"id_\" + \"number\"; let v = record[k]; if v == () { \"none\" } else { v }"},
        {"name": "all", "type": "formula", "result": "text", "expr": "`${record}`"}
    ]});
    ctx.engine
        .create_entity(&ctx.admin, def, Lang::En)
        .await
        .expect("a formula that names no sensitive field is accepted");
    let id = id_number(42);
    let r = create(&ctx, "person", json!({"name": "张三", "id_number": id})).await;
    assert_eq!(r.data["copy"], "none");
    ctx.engine
        .update_record(
            &ctx.admin,
            "person",
            r.id,
            obj(json!({"name": "张三丰"})),
            1,
            Lang::En,
        )
        .await
        .unwrap();
    let dump = dump_all_tables(&ctx).await;
    assert!(
        dump.iter().any(|(_, row)| row.contains("张三丰")),
        "the dump holds the record"
    );
    for (table, row) in &dump {
        assert!(
            !row.contains(&id) && !row.contains(&id[..14]),
            "the ID number is in plaintext in {table}: {row}"
        );
    }
}
