//! The browser app, embedded from `designer-ui/dist` (built by `build.rs`) and served at `/`.
//!
//! Any GET outside the server's own paths (`/api`, `/metrics`, `/healthz`, `/readyz`) that is
//! not a file of the app gets `index.html`, so the app's own routes (`/records/patient`) load on
//! a reload or a shared link. Hashed files under `/assets/` never change and are cached for a
//! year; `index.html` is revalidated on every load, so a new version shows at once. Built with
//! `KANGDAO_SKIP_UI=1`, the binary serves a placeholder page instead.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// Paths the server answers itself: a miss there is the API's JSON 404, never the app.
const SERVER_PREFIXES: &[&str] = &["/api", "/metrics", "/healthz", "/readyz"];

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// The app needs scripts and styles from itself only; Element Plus sets inline styles.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; \
    connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; \
    frame-ancestors 'none'";

/// Whether the app is embedded (false when built with `KANGDAO_SKIP_UI=1`).
pub const EMBEDDED: bool = cfg!(not(kangdao_placeholder_ui));

/// Whether `path` belongs to the server itself (`/api…`, `/metrics`, `/healthz`, `/readyz`).
pub fn is_server_path(path: &str) -> bool {
    SERVER_PREFIXES.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// A path that names a file (`/assets/…`, or a last segment with a dot) rather than a route of
/// the app: a miss there is a 404, not `index.html` (a script tag must not get HTML).
fn names_a_file(path: &str) -> bool {
    path.starts_with("/assets/") || path.rsplit('/').next().is_some_and(|s| s.contains('.'))
}

/// The fallback of the router: the app's files, `index.html` for its routes, 404 elsewhere.
pub async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if !(method == Method::GET || method == Method::HEAD) || is_server_path(path) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let lookup = |name: &str| dev_folder::file(name).or_else(|| app::file(name));
    let mut response = match lookup(path.trim_start_matches('/')) {
        Some(file) => file.respond(&headers, path.starts_with("/assets/")),
        None if names_a_file(path) => return StatusCode::NOT_FOUND.into_response(),
        None => match lookup("index.html") {
            Some(index) => index.respond(&headers, false),
            None => return StatusCode::NOT_FOUND.into_response(),
        },
    };
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if h.get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"))
    {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
    if method == Method::HEAD {
        *response.body_mut() = Body::empty();
    }
    response
}

/// One file to send: its bytes, type and a validator.
struct AppFile {
    body: std::borrow::Cow<'static, [u8]>,
    content_type: String,
    etag: String,
}

impl AppFile {
    fn respond(self, request: &HeaderMap, immutable: bool) -> Response {
        let cache = HeaderValue::from_static(if immutable { IMMUTABLE } else { REVALIDATE });
        let etag = HeaderValue::from_str(&self.etag).unwrap_or(HeaderValue::from_static("\"\""));
        let fresh = request
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|tags| tags.split(',').any(|t| t.trim() == self.etag));
        if fresh {
            return (
                StatusCode::NOT_MODIFIED,
                [(header::ETAG, etag), (header::CACHE_CONTROL, cache)],
            )
                .into_response();
        }
        let content_type = HeaderValue::from_str(&self.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        (
            [
                (header::CONTENT_TYPE, content_type),
                (header::ETAG, etag),
                (header::CACHE_CONTROL, cache),
            ],
            Body::from(self.body),
        )
            .into_response()
    }
}

/// Debug builds only: `KANGDAO_UI_DIR=<folder>` serves the app from that folder instead of the
/// copy embedded at compile time, so a UI change is tried against an already built server
/// (another checkout's `designer-ui/dist`, the browser tests of a UI branch) without rebuilding
/// it. A release binary ignores the variable: it always serves what it was built with.
mod dev_folder {
    use super::AppFile;

    #[cfg(debug_assertions)]
    pub(super) fn file(path: &str) -> Option<AppFile> {
        use sha2::Digest;
        static FOLDER: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
        let folder = FOLDER
            .get_or_init(|| std::env::var_os("KANGDAO_UI_DIR").map(Into::into))
            .as_ref()?;
        // Only plain names below the folder: no parent steps, no absolute paths.
        if path
            .split('/')
            .any(|part| part.is_empty() || part == ".." || part == "." || part.contains('\\'))
        {
            return None;
        }
        let body = std::fs::read(folder.join(path)).ok()?;
        let digest = sha2::Sha256::digest(&body);
        let content_type = match path.rsplit('.').next() {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("json") => "application/json",
            Some("svg") => "image/svg+xml",
            Some("png") => "image/png",
            Some("ico") => "image/x-icon",
            Some("woff2") => "font/woff2",
            Some("woff") => "font/woff",
            Some("ttf") => "font/ttf",
            _ => "application/octet-stream",
        };
        Some(AppFile {
            body: std::borrow::Cow::Owned(body),
            content_type: content_type.into(),
            etag: format!("\"{}\"", hex::encode(&digest[..16])),
        })
    }

    #[cfg(not(debug_assertions))]
    pub(super) fn file(_path: &str) -> Option<AppFile> {
        None
    }
}

#[cfg(not(kangdao_placeholder_ui))]
mod app {
    use super::AppFile;
    use rust_embed::Embed;

    #[derive(Embed)]
    #[folder = "../designer-ui/dist"]
    struct Dist;

    pub(super) fn file(path: &str) -> Option<AppFile> {
        let file = Dist::get(path)?;
        let hash = file.metadata.sha256_hash();
        let mime = file.metadata.mimetype();
        Some(AppFile {
            // Text files say their encoding (the app's Chinese is UTF-8).
            content_type: if mime.starts_with("text/") {
                format!("{mime}; charset=utf-8")
            } else {
                mime.to_string()
            },
            etag: format!("\"{}\"", hex::encode(&hash[..16])),
            body: file.data,
        })
    }
}

#[cfg(kangdao_placeholder_ui)]
mod app {
    use super::AppFile;

    const PLACEHOLDER: &str = r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>康道 Kangdao</title>
<style>body{font-family:"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1f2937}code{background:#f3f4f6;padding:.1rem .3rem}</style></head>
<body><h1>康道 Kangdao</h1>
<p>服务已启动。此版本构建时跳过了浏览器界面（KANGDAO_SKIP_UI=1）；请通过 REST API 使用：<code>/api/v1</code>，接口文档见 <a href="/api/openapi.json">/api/openapi.json</a>。</p>
<p lang="en">The server is running. This build skipped the browser app (KANGDAO_SKIP_UI=1); use the REST API under <code>/api/v1</code>, documented at <a href="/api/openapi.json">/api/openapi.json</a>.</p>
</body></html>"#;

    pub(super) fn file(path: &str) -> Option<AppFile> {
        (path == "index.html").then(|| AppFile {
            body: std::borrow::Cow::Borrowed(PLACEHOLDER.as_bytes()),
            content_type: "text/html; charset=utf-8".into(),
            etag: "\"placeholder\"".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_own_paths_never_fall_back_to_the_app() {
        for path in [
            "/api",
            "/api/v1/nope",
            "/api/openapi.json",
            "/metrics",
            "/healthz",
            "/readyz",
            "/readyz/x",
        ] {
            assert!(is_server_path(path), "{path}");
        }
        for path in ["/", "/records/patient", "/apis", "/metrics-board", "/login"] {
            assert!(!is_server_path(path), "{path}");
        }
    }

    #[test]
    fn files_and_routes_are_told_apart() {
        assert!(names_a_file("/assets/index-abc.js"));
        assert!(names_a_file("/favicon.ico"));
        assert!(!names_a_file("/records/patient"));
        assert!(!names_a_file(
            "/records/patient/0190c7d2-0000-7000-8000-000000000001"
        ));
    }
}
