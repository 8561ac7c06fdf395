//! A real `kangdao` server on a loopback port, on a fresh database, with an administrator.
//!
//! Tests talk to it through [`Session`]: every request goes out as a [`Call`] and comes back as
//! an [`Answer`] already checked against the OpenAPI document (`crate::contract`), so no test
//! can see an answer the document does not describe.

use crate::backends::{Backend, FreshDatabase};
use crate::contract::{check_answer, Strictness};
use kangdao_engine::access::{users, NewUser};
use kangdao_server::config::{Config, FileConfig};
use reqwest::header::HeaderMap;
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::sync::Once;
use tokio::sync::oneshot;

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

pub struct TestServer {
    pub base: String,
    pub db: FreshDatabase,
    pub config: Config,
    running: Running,
}

/// A signed-in browser (cookie jar plus the CSRF token), or an integration with an API token.
/// A clone shares the cookie jar, like a second tab.
#[derive(Clone)]
pub struct Session {
    client: Client,
    pub base: String,
    pub csrf: Option<String>,
    pub bearer: Option<String>,
    pub lang: &'static str,
}

fn install_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The configuration test servers run with, on the database at `url` with data in `data_dir`.
pub fn test_config(url: &str, data_dir: &std::path::Path) -> Config {
    Config::resolve(
        FileConfig::default(),
        FileConfig {
            bind: Some("127.0.0.1:0".into()),
            data_dir: Some(data_dir.to_path_buf()),
            database_url: Some(url.to_string()),
            db_max_connections: Some(5),
            ..FileConfig::default()
        },
    )
}

/// Creates the administrator the test sessions log in as.
pub async fn create_admin(engine: &kangdao_engine::Engine) {
    users::create_user(
        &engine.db,
        engine.clock.as_ref(),
        NewUser {
            username: ADMIN.into(),
            password: ADMIN_PASSWORD.into(),
            display_name: None,
            is_admin: true,
            roles: vec![],
            departments: vec![],
        },
    )
    .await
    .expect("admin user");
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        TestServer::launch(FreshDatabase::new(backend).await, true).await
    }

    /// A server whose engine reads time from `clock` (a `TestClock` a test moves on).
    pub async fn start_with_clock(
        backend: Backend,
        clock: kangdao_engine::clock::SharedClock,
    ) -> TestServer {
        install_crypto();
        let db = FreshDatabase::new(backend).await;
        let config = test_config(&db.url, &db.data_dir);
        let state = kangdao_server::build_state_with_clock(config.clone(), clock)
            .await
            .expect("server state");
        create_admin(&state.engine).await;
        let (base, running) = serve(state).await;
        TestServer {
            base,
            db,
            config,
            running,
        }
    }

    /// [`TestServer::start_with_clock`] with the configuration changed by `configure` first
    /// (an allow list, a limit).
    pub async fn start_configured(
        backend: Backend,
        clock: kangdao_engine::clock::SharedClock,
        configure: impl FnOnce(&mut Config),
    ) -> TestServer {
        install_crypto();
        let db = FreshDatabase::new(backend).await;
        let mut config = test_config(&db.url, &db.data_dir);
        configure(&mut config);
        let state = kangdao_server::build_state_with_clock(config.clone(), clock)
            .await
            .expect("server state");
        create_admin(&state.engine).await;
        let (base, running) = serve(state).await;
        TestServer {
            base,
            db,
            config,
            running,
        }
    }

    /// A server on a database another server left (stopped or killed), administrator
    /// included.
    pub async fn reopen(db: FreshDatabase) -> TestServer {
        TestServer::launch(db, false).await
    }

    /// [`TestServer::reopen`] with the engine reading time from `clock` (a server restarted
    /// "later": its predecessor's leases and delays have run out).
    pub async fn reopen_with_clock(
        db: FreshDatabase,
        clock: kangdao_engine::clock::SharedClock,
    ) -> TestServer {
        TestServer::launch_with_clock(db, false, clock).await
    }

    async fn launch(db: FreshDatabase, with_admin: bool) -> TestServer {
        TestServer::launch_with_clock(
            db,
            with_admin,
            std::sync::Arc::new(kangdao_engine::clock::SystemClock),
        )
        .await
    }

    async fn launch_with_clock(
        db: FreshDatabase,
        with_admin: bool,
        clock: kangdao_engine::clock::SharedClock,
    ) -> TestServer {
        install_crypto();
        let config = test_config(&db.url, &db.data_dir);
        let state = kangdao_server::build_state_with_clock(config.clone(), clock)
            .await
            .expect("server state");
        if with_admin {
            create_admin(&state.engine).await;
        }
        let (base, running) = serve(state).await;
        TestServer {
            base,
            db,
            config,
            running,
        }
    }

    /// A second instance of the server on the same database and data folder, as two
    /// instances behind a load balancer run. It stops when dropped with [`Twin::stop`].
    pub async fn twin(&self) -> Twin {
        let state = kangdao_server::build_state(self.config.clone())
            .await
            .expect("second instance state");
        let (base, running) = serve(state).await;
        Twin { base, running }
    }

    pub fn anonymous(&self) -> Session {
        Session::at(&self.base)
    }

    /// An integration calling with an API token: no cookie, no CSRF token.
    pub fn with_token(&self, token: &str) -> Session {
        Session::with_token_at(&self.base, token)
    }

    /// A session logged in as the administrator.
    pub async fn admin(&self) -> Session {
        self.login(ADMIN, ADMIN_PASSWORD).await
    }

    pub async fn login(&self, username: &str, password: &str) -> Session {
        Session::login_at(&self.base, username, password).await
    }

    pub async fn stop(self) {
        self.running.stop().await
    }
}

/// A second instance of a [`TestServer`] (see [`TestServer::twin`]).
pub struct Twin {
    pub base: String,
    running: Running,
}

impl Twin {
    pub fn with_token(&self, token: &str) -> Session {
        Session::with_token_at(&self.base, token)
    }

    pub async fn login(&self, username: &str, password: &str) -> Session {
        Session::login_at(&self.base, username, password).await
    }

    pub async fn stop(self) {
        self.running.stop().await
    }
}

/// A server running on a task, and how to stop it.
struct Running {
    stop: oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.handle.await;
    }
}

async fn serve(state: kangdao_server::AppState) -> (String, Running) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let _ = kangdao_server::launch(listener, state, async {
            let _ = stopped.await;
        })
        .await;
    });
    (base, Running { stop, handle })
}

impl Session {
    /// An integration with an API token on the server at `base`.
    pub fn with_token_at(base: &str, token: &str) -> Session {
        let mut session = Session::at(base);
        session.bearer = Some(token.to_string());
        session
    }

    /// A browser session signed in on the server at `base`.
    pub async fn login_at(base: &str, username: &str, password: &str) -> Session {
        let mut session = Session::at(base);
        let response = session
            .post(
                "/api/v1/auth/login",
                &json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(response.status(), 200, "login as {username}");
        let body = response.value();
        session.csrf = body["csrf_token"].as_str().map(str::to_string);
        session
    }

    /// An anonymous session on a server at `base` (`http://host:port`).
    pub fn at(base: &str) -> Session {
        install_crypto();
        Session {
            client: Client::builder()
                .cookie_store(true)
                .build()
                .expect("client"),
            base: base.to_string(),
            csrf: None,
            bearer: None,
            lang: "zh-CN",
        }
    }

    /// A request the document describes; its answer is held to the document.
    pub fn request(&self, method: Method, path: &str) -> Call {
        self.call(method, path, Strictness::Documented)
    }

    /// A request deliberately outside the document (garbage bytes, a wrong content type): any
    /// error status may answer, but still in the one error format.
    pub fn garbage(&self, method: Method, path: &str) -> Call {
        self.call(method, path, Strictness::Garbage)
    }

    fn call(&self, method: Method, path: &str, strictness: Strictness) -> Call {
        let mut builder = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .header("Accept-Language", self.lang);
        if method != Method::GET {
            if let Some(csrf) = &self.csrf {
                builder = builder.header("X-CSRF-Token", csrf);
            }
        }
        if let Some(token) = &self.bearer {
            builder = builder.bearer_auth(token);
        }
        Call {
            builder,
            method,
            path: path.to_string(),
            strictness,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.request(Method::GET, path).send().await.expect("GET")
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.request(Method::POST, path)
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    pub async fn put(&self, path: &str, body: &Value) -> Answer {
        self.request(Method::PUT, path)
            .json(body)
            .send()
            .await
            .expect("PUT")
    }

    pub async fn patch(&self, path: &str, version: Option<i64>, body: &Value) -> Answer {
        let mut call = self.request(Method::PATCH, path).json(body);
        if let Some(v) = version {
            call = call.header("If-Match", format!("\"{v}\""));
        }
        call.send().await.expect("PATCH")
    }

    pub async fn delete(&self, path: &str, version: Option<i64>) -> Answer {
        let mut call = self.request(Method::DELETE, path);
        if let Some(v) = version {
            call = call.header("If-Match", format!("\"{v}\""));
        }
        call.send().await.expect("DELETE")
    }
}

/// A request on its way; [`Call::send`] gives its answer, checked against the document.
pub struct Call {
    builder: RequestBuilder,
    method: Method,
    path: String,
    strictness: Strictness,
}

impl Call {
    pub fn header(mut self, key: &str, value: impl AsRef<str>) -> Call {
        self.builder = self.builder.header(key, value.as_ref());
        self
    }

    pub fn body(mut self, body: impl Into<reqwest::Body>) -> Call {
        self.builder = self.builder.body(body);
        self
    }

    pub fn json(mut self, body: &Value) -> Call {
        self.builder = self.builder.json(body);
        self
    }

    pub fn bearer_auth(mut self, token: &str) -> Call {
        self.builder = self.builder.bearer_auth(token);
        self
    }

    /// Sends the request and reads the whole answer; panics, naming the request, when the
    /// answer is outside the OpenAPI document.
    pub async fn send(self) -> Result<Answer, reqwest::Error> {
        let response = self.builder.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        let content_type = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        if let Err(problem) = check_answer(
            self.method.as_str(),
            &self.path,
            status.as_u16(),
            content_type,
            &body,
            self.strictness,
        ) {
            panic!(
                "{} {} answered {status} outside the OpenAPI document: {problem}",
                self.method, self.path
            );
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

/// An answer, read whole and already checked against the document.
#[derive(Debug)]
pub struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    pub async fn bytes(self) -> Result<Vec<u8>, std::convert::Infallible> {
        Ok(self.body)
    }

    pub async fn text(self) -> Result<String, std::string::FromUtf8Error> {
        String::from_utf8(self.body)
    }

    pub async fn json<T: DeserializeOwned>(self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The body as JSON, saying what came instead when it is not JSON.
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "status {}: not JSON: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Reads a JSON body, saying what came instead when it is not JSON.
pub async fn json_of(response: Answer) -> Value {
    response.value()
}

/// A valid GB 11643 resident ID number born on `birth` (YYYYMMDD) with sequence `seq`.
/// Percent-encodes every byte but ASCII letters and digits (a query value).
pub fn url_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn id_number(region: &str, birth: &str, seq: u32) -> String {
    let first17 = format!("{region}{birth}{:03}", seq % 1000);
    let check =
        kangdao_engine::forms::checks::id_card_check_char(first17.as_bytes()).expect("17 digits");
    format!("{first17}{check}")
}

/// The patient entity of DESIGN.md, with a few more fields the tests use.
pub fn patient_definition() -> Value {
    json!({
        "name": "patient", "label": {"zh": "患者", "en": "Patient"},
        "fields": [
            {"name": "name", "type": "text", "label": {"zh": "姓名", "en": "Name"}, "required": true, "max_length": 50},
            {"name": "id_number", "type": "id_card", "label": {"zh": "身份证号", "en": "ID number"}, "unique": true, "sensitive": true},
            {"name": "phone", "type": "phone", "label": {"zh": "手机号", "en": "Mobile"}, "indexed": true},
            {"name": "mrn", "type": "text", "label": {"zh": "病案号", "en": "MRN"}, "unique": true},
            {"name": "dept", "type": "select", "label": {"zh": "科室", "en": "Department"},
             "options": [{"value": "cardiology", "label": {"zh": "心内科", "en": "Cardiology"}},
                         {"value": "orthopedics", "label": {"zh": "骨科", "en": "Orthopedics"}}]},
            {"name": "total_spent", "type": "money", "label": {"zh": "累计消费", "en": "Total spent"}, "min": 0, "default": 0},
            {"name": "tier", "type": "select", "options": [{"value": "normal"}, {"value": "VIP"}], "default": "normal"},
            {"name": "patient_no", "type": "autonumber", "prefix": "P"}
        ],
        "layout": [{"section": {"zh": "基本信息", "en": "Basics"}, "columns": 2, "fields": ["name", "id_number", "phone", "dept"]}]
    })
}
