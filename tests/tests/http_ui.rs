//! The browser app served by the binary: `index.html` at `/` and at the app's own routes,
//! hashed assets cached for a year, and the server's own paths keeping their JSON 404s.
//! (Serving files touches no storage: SQLite only.)

use kangdao_server::ui::EMBEDDED;
use kangdao_tests::server::TestServer;
use kangdao_tests::Backend;
use reqwest::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH,
};
use reqwest::{Client, Response, StatusCode};

async fn get(client: &Client, url: &str) -> Response {
    client.get(url).send().await.expect("GET")
}

fn header(response: &Response, name: reqwest::header::HeaderName) -> &str {
    response
        .headers()
        .get(&name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The script the page loads first: `/assets/index-<hash>.js`.
fn entry_script(index: &str) -> String {
    let start = index
        .find("src=\"/assets/")
        .expect("index.html loads a script from /assets/")
        + "src=\"".len();
    let end = index[start..].find('"').expect("closing quote") + start;
    index[start..end].to_string()
}

async fn assert_json_not_found(client: &Client, url: &str) {
    let answer = get(client, url).await;
    assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{url}");
    assert!(
        header(&answer, CONTENT_TYPE).starts_with("application/json"),
        "{url}"
    );
    let body: serde_json::Value = answer.json().await.expect("JSON body");
    assert_eq!(body["error"]["code"], "not_found", "{url}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_is_served_at_the_root_and_at_its_own_routes() {
    let server = TestServer::start(Backend::Sqlite).await;
    let client = Client::new();

    let root = get(&client, &format!("{}/", server.base)).await;
    assert_eq!(root.status(), StatusCode::OK);
    assert!(header(&root, CONTENT_TYPE).starts_with("text/html"));
    assert_eq!(header(&root, CACHE_CONTROL), "no-cache");
    assert!(header(&root, CONTENT_SECURITY_POLICY).contains("script-src 'self'"));
    let index = root.text().await.expect("index.html");

    // A client route (a reload, a shared link) gets the same page.
    for route in [
        "/records/patient",
        "/records/patient/new",
        "/login?redirect=%2Frecords%2Fpatient",
    ] {
        let page = get(&client, &format!("{}{route}", server.base)).await;
        assert_eq!(page.status(), StatusCode::OK, "{route}");
        assert_eq!(header(&page, CACHE_CONTROL), "no-cache", "{route}");
        assert_eq!(page.text().await.expect("body"), index, "{route}");
    }

    if EMBEDDED {
        assert!(index.contains("<div id=\"app\">"), "{index}");
    } else {
        assert!(index.contains("KANGDAO_SKIP_UI"), "{index}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_assets_are_cached_for_a_year_and_sent_compressed() {
    if !EMBEDDED {
        // Built with KANGDAO_SKIP_UI=1: there are no assets (the placeholder test above holds).
        return;
    }
    let server = TestServer::start(Backend::Sqlite).await;
    let client = Client::new();
    let index = get(&client, &format!("{}/", server.base))
        .await
        .text()
        .await
        .expect("index.html");
    let script = entry_script(&index);
    let url = format!("{}{script}", server.base);

    let asset = client
        .get(&url)
        .header(ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .expect("GET asset");
    assert_eq!(asset.status(), StatusCode::OK);
    assert_eq!(
        header(&asset, CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    assert!(header(&asset, CONTENT_TYPE).contains("javascript"));
    assert_eq!(header(&asset, CONTENT_ENCODING), "gzip");
    let etag = header(&asset, ETAG).to_string();
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");

    // A browser that holds it already is told so.
    let again = client
        .get(&url)
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .expect("GET asset again");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // A missing asset is a 404, never index.html (a script tag must not get HTML).
    let missing = get(&client, &format!("{}/assets/missing-0000.js", server.base)).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_own_paths_keep_their_json_404s() {
    let server = TestServer::start(Backend::Sqlite).await;
    let client = Client::new();
    for path in [
        "/api/v1/nope",
        "/api/v2/records",
        "/api",
        "/metrics/extra",
        "/healthz/extra",
        "/readyz/extra",
    ] {
        assert_json_not_found(&client, &format!("{}{path}", server.base)).await;
    }
    // Writes to an app route are not the app's: the one error format, 404.
    let post = client
        .post(format!("{}/records/patient", server.base))
        .send()
        .await
        .expect("POST");
    assert_eq!(post.status(), StatusCode::NOT_FOUND);
    assert!(header(&post, CONTENT_TYPE).starts_with("application/json"));
    // The server's real endpoints are untouched.
    assert_eq!(
        get(&client, &format!("{}/healthz", server.base))
            .await
            .status(),
        StatusCode::OK
    );
    server.stop().await;
}
