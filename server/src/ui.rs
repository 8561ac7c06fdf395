//! The browser app's place. Until the designer UI is built and embedded, a page that says where
//! the API is.

use axum::response::Html;

const PLACEHOLDER: &str = r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>康道 Kangdao</title>
<style>body{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1f2937}code{background:#f3f4f6;padding:.1rem .3rem}</style></head>
<body><h1>康道 Kangdao</h1>
<p>服务已启动。浏览器界面尚未内置；请通过 REST API 使用：<code>/api/v1</code>，接口文档见 <a href="/api/openapi.json">/api/openapi.json</a>。</p>
<p lang="en">The server is running. The browser app is not embedded yet; use the REST API under <code>/api/v1</code>, documented at <a href="/api/openapi.json">/api/openapi.json</a>.</p>
</body></html>"#;

pub async fn index() -> Html<&'static str> {
    Html(PLACEHOLDER)
}
