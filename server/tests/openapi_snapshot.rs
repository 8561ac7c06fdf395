//! The browser app's typed API client is generated from `designer-ui/openapi.json`, a snapshot
//! of the server's OpenAPI document kept in the repository. This test fails when the snapshot
//! is not the document the server serves; `KANGDAO_UPDATE_OPENAPI=1 cargo test -p kangdao
//! --test openapi_snapshot` rewrites it (then regenerate the client: `npm run gen:api` in
//! `designer-ui`).

use kangdao_server::routes::openapi::document;
use std::path::PathBuf;

fn snapshot_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../designer-ui/openapi.json")
}

fn rendered() -> String {
    let mut text = serde_json::to_string_pretty(document()).expect("the document serializes");
    text.push('\n');
    text
}

#[test]
fn the_browser_apps_openapi_snapshot_is_current() {
    let path = snapshot_path();
    let current = rendered();
    if std::env::var_os("KANGDAO_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &current).expect("write the snapshot");
        return;
    }
    let kept = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        kept == current,
        "{} is not the server's OpenAPI document; run \
         `KANGDAO_UPDATE_OPENAPI=1 cargo test -p kangdao --test openapi_snapshot`, then \
         `npm run gen:api` in designer-ui",
        path.display()
    );
}
