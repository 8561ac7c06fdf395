//! The OpenAPI document against reality: what the server publishes is the document the tests
//! check answers against, every schema in it compiles with its references resolved, and the
//! checker refuses answers the document does not describe.

use kangdao_server::routes::openapi::{document, ERROR_CODES, ROUTES};
use kangdao_tests::backends::Backend;
use kangdao_tests::contract::{check_answer, check_schema, operation_for, Strictness};
use kangdao_tests::server::{json_of, TestServer};
use serde_json::json;

const JSON: Option<&str> = Some("application/json");

fn record() -> serde_json::Value {
    json!({"id": "01a20f80-f6ae-72b0-a0aa-0e2e033019b0", "entity": "patient", "version": 1,
           "data": {"name": "张三"}, "created_at": "2026-01-02T03:04:05.000006Z", "created_by": "u",
           "updated_at": "2026-01-02T03:04:05.000006Z", "updated_by": "u"})
}

#[test]
fn every_operation_documents_parameters_bodies_and_answers() {
    let doc = document();
    for op in ROUTES {
        let item = &doc["paths"][op.path][op.method];
        assert!(item.is_object(), "{} {} missing", op.method, op.path);
        let responses = item["responses"].as_object().expect("responses");
        assert!(responses.contains_key(&op.status.to_string()));
        for (status, answer) in responses {
            if status.starts_with('4') || status == "500" {
                assert_eq!(
                    answer["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/Error",
                    "{} {} {status}",
                    op.method,
                    op.path
                );
            }
            // Every documented answer's schema compiles with its references resolved.
            if let Some(content) = answer["content"].as_object() {
                for media in content.values() {
                    let _ = check_schema(&media["schema"], &json!(null));
                }
            }
        }
        for name in op.path_parameters() {
            assert!(
                item["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "path")),
                "{} {}: path parameter {name}",
                op.method,
                op.path
            );
        }
        for name in op.query {
            assert!(
                item["parameters"].as_array().is_some_and(|ps| ps
                    .iter()
                    .any(|p| p["name"] == *name
                        && p["in"] == "query"
                        && (p["schema"].is_object() || p["content"].is_object()))),
                "{} {}: query parameter {name}",
                op.method,
                op.path
            );
        }
        assert_eq!(op.public, item["security"] == json!([]));
    }
    let list = &doc["paths"]["/api/v1/records/{entity}"]["get"]["parameters"];
    let per_page = list
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "per_page"))
        .expect("per_page");
    assert_eq!(per_page["schema"]["maximum"], 1000);
    let codes =
        &doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"];
    assert_eq!(codes, &json!(ERROR_CODES));
    for code in [
        "method_not_allowed",
        "uri_too_long",
        "headers_too_large",
        "conflict",
        "internal",
    ] {
        assert!(ERROR_CODES.contains(&code), "{code}");
    }
}

#[test]
fn templates_match_as_the_router_does() {
    let op = operation_for("POST", "/api/v1/records/patient/import?dry_run=true").unwrap();
    assert_eq!(op.path, "/api/v1/records/{entity}/import");
    let op = operation_for(
        "get",
        "/api/v1/records/patient/01a20f80-f6ae-72b0-a0aa-0e2e033019b0",
    )
    .unwrap();
    assert_eq!(op.path, "/api/v1/records/{entity}/{id}");
    assert!(operation_for("PUT", "/api/v1/records/patient").is_none());
    assert!(operation_for("GET", "/api/v1/nothing").is_none());
}

#[test]
fn the_checker_refuses_answers_outside_the_document() {
    let ok = |method, path, status, body: serde_json::Value| {
        check_answer(
            method,
            path,
            status,
            JSON,
            body.to_string().as_bytes(),
            Strictness::Documented,
        )
    };
    let error = json!({"error": {"code": "not_found", "message": "m", "details": []}});
    ok("GET", "/api/v1/records/patient/x", 200, record()).unwrap();
    ok("GET", "/api/v1/records/patient/x", 404, error.clone()).unwrap();
    // A record without its version.
    let mut wrong = record();
    wrong.as_object_mut().unwrap().remove("version");
    assert!(ok("GET", "/api/v1/records/patient/x", 200, wrong).is_err());
    // A page whose per_page is over the bound, or without items.
    assert!(ok(
        "GET",
        "/api/v1/records/patient",
        200,
        json!({"items": [], "page": 1, "per_page": 5000})
    )
    .is_err());
    assert!(ok(
        "GET",
        "/api/v1/records/patient",
        200,
        json!({"total": 0, "page": 1, "per_page": 50})
    )
    .is_err());
    // A record list carries the exact total or, past the counting bound, an estimate; never
    // both, and never an estimate the bounded count would have given exactly.
    ok(
        "GET",
        "/api/v1/records/patient",
        200,
        json!({"items": [record()], "total": 1000, "page": 1, "per_page": 50}),
    )
    .unwrap();
    ok(
        "GET",
        "/api/v1/records/patient",
        200,
        json!({"items": [record()], "total_estimate": 1001, "page": 1, "per_page": 50}),
    )
    .unwrap();
    assert!(ok(
        "GET",
        "/api/v1/records/patient",
        200,
        json!({"items": [record()], "total_estimate": 1000, "page": 1, "per_page": 50})
    )
    .is_err());
    assert!(ok(
        "GET",
        "/api/v1/records/patient",
        200,
        json!({"items": [record()], "total": 5000, "total_estimate": 5000, "page": 1, "per_page": 50})
    )
    .is_err());
    // A status the operation does not document.
    assert!(ok("GET", "/api/v1/records/patient/x", 428, error.clone()).is_err());
    assert!(ok("GET", "/healthz", 404, error.clone()).is_err());
    // An error outside the one format, or with an unknown code, or not JSON.
    assert!(ok(
        "GET",
        "/api/v1/records/patient/x",
        404,
        json!({"message": "no"})
    )
    .is_err());
    assert!(ok(
        "GET",
        "/api/v1/records/patient/x",
        404,
        json!({"error": {"code": "gone", "message": "m", "details": []}})
    )
    .is_err());
    assert!(check_answer(
        "GET",
        "/api/v1/records/patient/x",
        404,
        Some("text/plain"),
        b"Not Found",
        Strictness::Documented
    )
    .is_err());
    // 204 with a body.
    assert!(ok("DELETE", "/api/v1/records/patient/x", 204, json!({})).is_err());
    check_answer(
        "DELETE",
        "/api/v1/records/patient/x",
        204,
        None,
        b"",
        Strictness::Documented,
    )
    .unwrap();
    // Undocumented routes: errors in the one format only.
    check_answer(
        "PUT",
        "/api/v1/records/patient",
        405,
        JSON,
        json!({"error": {"code": "method_not_allowed", "message": "m", "details": []}})
            .to_string()
            .as_bytes(),
        Strictness::Documented,
    )
    .unwrap();
    assert!(check_answer(
        "PUT",
        "/api/v1/records/patient",
        200,
        JSON,
        b"{}",
        Strictness::Documented
    )
    .is_err());
    assert!(check_answer(
        "TRACE",
        "/api/v1/me",
        405,
        None,
        b"",
        Strictness::Documented
    )
    .is_err());
    // Garbage may meet any error status, never a body outside the format.
    check_answer(
        "POST",
        "/api/v1/records/patient",
        415,
        JSON,
        error.to_string().as_bytes(),
        Strictness::Garbage,
    )
    .unwrap();
    assert!(check_answer(
        "POST",
        "/api/v1/records/patient",
        415,
        Some("text/plain"),
        b"x",
        Strictness::Garbage
    )
    .is_err());
    // Export: the file's content type.
    check_answer(
        "GET",
        "/api/v1/records/patient/export",
        200,
        Some("text/csv; charset=utf-8"),
        b"a,b",
        Strictness::Documented,
    )
    .unwrap();
    assert!(check_answer(
        "GET",
        "/api/v1/records/patient/export",
        200,
        Some("text/html"),
        b"a,b",
        Strictness::Documented
    )
    .is_err());
}

async fn served_document(backend: Backend) {
    let server = TestServer::start(backend).await;
    let served = json_of(server.anonymous().get("/api/openapi.json").await).await;
    assert_eq!(&served, document());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_serves_the_checked_document() {
    served_document(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_serves_the_checked_document() {
    served_document(Backend::Postgres).await
}
