//! Import (dry run, all-or-nothing, keep-the-good-rows) and export that round-trips.

use crate::support::*;
use kangdao_engine::io::{read_table, TabularFormat};
use kangdao_engine::records::{ImportOptions, ImportReport, ListQuery, SortKey};
use kangdao_engine::Lang;
use serde_json::json;
use std::collections::BTreeMap;

on_both_backends!(import_and_export_round_trip);

const BAD_INDEX: usize = 57;
/// Line 1 is the header, so row i sits on line i + 2.
const BAD_LINE: usize = BAD_INDEX + 2;

fn csv_file() -> String {
    let mut out = String::from("name,id_number,phone,dept,total_spent,mrn,tags,birth_date\n");
    for i in 0..200u32 {
        let phone = if i as usize == BAD_INDEX {
            "12345".to_string()
        } else {
            phone(1000 + i)
        };
        let tags = if i % 2 == 0 {
            "\"高血压, 糖尿病\""
        } else {
            ""
        };
        out.push_str(&format!(
            "导入{i},{},{phone},{},{}.{:02},IMP{i:04},{tags},1980-01-{:02}\n",
            id_number(1000 + i),
            if i % 4 == 0 { "cardiology" } else { "oncology" },
            i,
            i % 100,
            i % 28 + 1
        ));
    }
    out
}

async fn import(ctx: &Ctx, entity: &str, bytes: &[u8], options: ImportOptions) -> ImportReport {
    ctx.engine
        .import_records(&ctx.admin, entity, bytes, &options, Lang::En)
        .await
        .unwrap_or_else(|e| panic!("import into {entity}: {e:?}"))
}

async fn total(ctx: &Ctx, entity: &str) -> u64 {
    list(
        ctx,
        entity,
        ListQuery {
            per_page: 1,
            count: true,
            ..Default::default()
        },
    )
    .await
    .total
    .unwrap()
}

async fn import_and_export_round_trip(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let file = csv_file();

    // Dry run: every bad row with its line; nothing written.
    let report = import(
        &ctx,
        "patient",
        file.as_bytes(),
        ImportOptions {
            dry_run: true,
            atomic: true,
            mapping: None,
        },
    )
    .await;
    assert!(report.dry_run);
    assert_eq!(report.total_rows, 200);
    assert_eq!(report.valid_rows, 199);
    assert_eq!(report.imported, 0);
    let lines: Vec<(usize, &str)> = report
        .errors
        .iter()
        .map(|e| (e.line, e.field.as_str()))
        .collect();
    assert_eq!(lines, vec![(BAD_LINE, "phone")], "{:?}", report.errors);
    assert!(!report.errors[0].code.is_empty());
    assert!(!report.errors[0].message.is_empty());
    assert_eq!(total(&ctx, "patient").await, 0);

    // All-or-nothing: one bad row and nothing is written.
    let report = import(
        &ctx,
        "patient",
        file.as_bytes(),
        ImportOptions {
            dry_run: false,
            atomic: true,
            mapping: None,
        },
    )
    .await;
    assert_eq!(report.imported, 0);
    assert_eq!(
        report.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
        vec![BAD_LINE]
    );
    assert_eq!(total(&ctx, "patient").await, 0);

    // atomic=false keeps the good rows.
    let report = import(
        &ctx,
        "patient",
        file.as_bytes(),
        ImportOptions {
            dry_run: false,
            atomic: false,
            mapping: None,
        },
    )
    .await;
    assert_eq!(report.imported, 199);
    assert_eq!(report.errors.len(), 1);
    assert_eq!(total(&ctx, "patient").await, 199);
    let bad_mrn = list(
        &ctx,
        "patient",
        ListQuery {
            q: Some(format!("IMP{BAD_INDEX:04}")),
            count: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(bad_mrn.total, Some(0));
    // Imported records are numbered, sealed and filterable like any other.
    let one = list(
        &ctx,
        "patient",
        ListQuery {
            filter: Some(
                kangdao_engine::records::FilterExpr::parse(
                    json!({"field": "phone", "op": "eq", "value": phone(1003)}),
                )
                .unwrap(),
            ),
            count: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(one.total, Some(1));
    assert_eq!(one.items[0].data["name"], json!("导入3"));
    assert_eq!(one.items[0].data["total_spent"].as_f64(), Some(3.03));
    assert!(one.items[0].data["patient_no"]
        .as_str()
        .unwrap()
        .starts_with("P2026"));
    assert_eq!(one.items[0].version, 1);

    // The same file again clashes with what is stored: every row is reported.
    let report = import(
        &ctx,
        "patient",
        file.as_bytes(),
        ImportOptions {
            dry_run: true,
            atomic: true,
            mapping: None,
        },
    )
    .await;
    let mut bad_lines: Vec<usize> = report.errors.iter().map(|e| e.line).collect();
    bad_lines.dedup();
    assert_eq!(bad_lines.len(), 200, "{:?}", &report.errors[..3]);
    assert!(report
        .errors
        .iter()
        .any(|e| e.code == "unique_violation" && e.field == "mrn"));

    // Export: header = field names, one row per record.
    let exported = ctx
        .engine
        .export_records(
            &ctx.admin,
            "patient",
            TabularFormat::Csv,
            None,
            SortKey::parse_list("mrn"),
            None,
        )
        .await
        .unwrap();
    let table = read_table(&exported, TabularFormat::Csv, 10_000).unwrap();
    let field_names: Vec<String> = patient_fields()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(table.header, field_names);
    assert_eq!(table.rows.len(), 199);
    let col = |name: &str| table.header.iter().position(|h| h == name).unwrap();
    let first = &table.rows[0].cells;
    assert_eq!(first[col("name")], "导入0");
    assert_eq!(first[col("mrn")], "IMP0000");
    assert_eq!(first[col("dept")], "cardiology");
    assert_eq!(first[col("birth_date")], "1980-01-01");
    // Sensitive values leave masked.
    assert!(first[col("id_number")].contains("****"), "{first:?}");
    assert!(!String::from_utf8_lossy(&exported).contains(&id_number(1000)));

    // Re-import into a fresh entity with the same fields (the masked columns skipped).
    for (copy, format) in [
        ("patient_copy", TabularFormat::Csv),
        ("patient_xlsx", TabularFormat::Xlsx),
    ] {
        ctx.engine
            .create_entity(
                &ctx.admin,
                json!({"name": copy, "fields": patient_fields()}),
                Lang::En,
            )
            .await
            .unwrap();
        let bytes = if format == TabularFormat::Csv {
            exported.clone()
        } else {
            ctx.engine
                .export_records(
                    &ctx.admin,
                    "patient",
                    format,
                    None,
                    SortKey::parse_list("mrn"),
                    None,
                )
                .await
                .unwrap()
        };
        // patient_no is an autonumber: the new entity numbers its own records.
        let mapping: BTreeMap<String, String> =
            [("id_number", ""), ("phone", ""), ("patient_no", "")]
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
        let report = import(
            &ctx,
            copy,
            &bytes,
            ImportOptions {
                dry_run: false,
                atomic: true,
                mapping: Some(mapping),
            },
        )
        .await;
        assert!(report.errors.is_empty(), "{copy}: {:?}", report.errors);
        assert_eq!(report.imported, 199, "{copy}");
        let original = list(
            &ctx,
            "patient",
            ListQuery {
                per_page: 500,
                sort: SortKey::parse_list("mrn"),
                ..Default::default()
            },
        )
        .await;
        let copied = list(
            &ctx,
            copy,
            ListQuery {
                per_page: 500,
                sort: SortKey::parse_list("mrn"),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(copied.items.len(), 199);
        for (a, b) in original.items.iter().zip(&copied.items) {
            for field in [
                "name",
                "dept",
                "total_spent",
                "tier",
                "mrn",
                "tags",
                "birth_date",
            ] {
                assert_eq!(
                    a.data.get(field),
                    b.data.get(field),
                    "{copy}: {field} of {}",
                    a.data["mrn"]
                );
            }
        }
    }
}

on_both_backends!(computed_columns_in_a_file_are_passed_over);

/// A file carrying an autonumber column (as exports do) imports: the engine numbers the rows.
async fn computed_columns_in_a_file_are_passed_over(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let csv = "name,patient_no\n甲,P1999000123\n乙,anything\n";
    let options = ImportOptions {
        atomic: true,
        ..ImportOptions::default()
    };
    let report = ctx
        .engine
        .import_records(&ctx.admin, "patient", csv.as_bytes(), &options, Lang::En)
        .await
        .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.imported, 2);
    let page = ctx
        .engine
        .list_records(
            &ctx.admin,
            "patient",
            &ListQuery {
                sort: SortKey::parse_list("name"),
                ..ListQuery::default()
            },
        )
        .await
        .unwrap();
    let numbers: Vec<&str> = page
        .items
        .iter()
        .map(|r| r.data["patient_no"].as_str().unwrap())
        .collect();
    assert!(
        numbers.iter().all(|n| n.starts_with("P2026")),
        "{numbers:?}"
    );
}

on_both_backends!(a_large_import_checks_every_row_in_one_pass);

/// 1,200 rows, so several batches: a bad phone late in the file and a repeated MRN across
/// batches. All-or-nothing writes nothing (the batches before the bad row roll back) and lists
/// both problems; keep-the-good-rows writes every other row.
async fn a_large_import_checks_every_row_in_one_pass(backend: Backend) {
    let ctx = open_with_entities(backend).await;
    let mut file = String::from("name,id_number,phone,dept,total_spent,mrn\n");
    for i in 0..1_200u32 {
        let phone = if i == 1_100 {
            "12345".into()
        } else {
            phone(5000 + i)
        };
        let mrn = if i == 700 { 5 } else { i };
        file.push_str(&format!(
            "批量{i},{},{phone},cardiology,{i}.00,BIG{mrn:05}\n",
            id_number(5000 + i)
        ));
    }
    let live = || async {
        let rows = ctx
            .engine
            .db
            .fetch_one(
                "SELECT COUNT(*) AS n FROM e_patient WHERE deleted_at IS NULL",
                vec![],
            )
            .await
            .unwrap()
            .req_int("n")
            .unwrap();
        let history = ctx
            .engine
            .db
            .fetch_one(
                "SELECT COUNT(*) AS n FROM record_changes WHERE entity = 'patient'",
                vec![],
            )
            .await
            .unwrap()
            .req_int("n")
            .unwrap();
        (rows, history)
    };
    let options = |atomic| ImportOptions {
        dry_run: false,
        atomic,
        mapping: None,
    };

    let report = import(&ctx, "patient", file.as_bytes(), options(true)).await;
    let lines: Vec<(usize, &str)> = report
        .errors
        .iter()
        .map(|e| (e.line, e.field.as_str()))
        .collect();
    assert_eq!(lines, vec![(702, "mrn"), (1_102, "phone")], "{report:?}");
    assert_eq!(report.imported, 0);
    assert_eq!(report.valid_rows, 1_198);
    assert_eq!(
        live().await,
        (0, 0),
        "an all-or-nothing import that failed left rows"
    );

    let report = import(&ctx, "patient", file.as_bytes(), options(false)).await;
    assert_eq!(report.imported, 1_198, "{:?}", report.errors);
    assert_eq!(report.errors.len(), 2);
    assert_eq!(live().await, (1_198, 1_198));
}
