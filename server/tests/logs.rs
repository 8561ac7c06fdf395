//! The server's logs as a file or a journal receives them: plain text without colour codes
//! when standard error is not a terminal, JSON lines with `log_format = json`, `log_level`
//! from a flag, the environment or the file, and `KANGDAO_LOG` winning over it — one access
//! line a request with the route template, never a record's id — on SQLite and PostgreSQL.

// Shared with the tests crate; this test uses only part of it.
#[allow(dead_code)]
#[path = "../../tests/src/backends.rs"]
mod backends;

use backends::{Backend, FreshDatabase};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Stops the server even when an assertion fails first.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Serves with `args` and `env` (nothing inherited of `KANGDAO_LOG*`), asks for a record by
/// id and for `/healthz`, stops, and gives back what the server wrote on standard error.
async fn serve_and_read_log(
    db: &FreshDatabase,
    key: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    config_file: Option<&str>,
) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kangdao"));
    command
        .args(["serve", "--bind", "127.0.0.1:0", "--database-url"])
        .arg(&db.url)
        .arg("--data-dir")
        .arg(&db.data_dir)
        .args(args)
        .env("KANGDAO_KEY_FILE", key)
        .env_remove("KANGDAO_LOG")
        .env_remove("KANGDAO_LOG_LEVEL")
        .env_remove("KANGDAO_LOG_FORMAT")
        .env_remove("KANGDAO_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(text) = config_file {
        let path = db.data_dir.join("kangdao.toml");
        std::fs::write(&path, text).expect("config file");
        command.arg("--config").arg(path);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let mut server = Running(command.spawn().expect("serve"));
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("listening line");
    let address = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("address in the listening line {line:?}"))
        .to_string();
    let client = reqwest::Client::new();
    let id = "0190f5d2-7c5e-7c3a-9f0e-4b1d2c3e4f50";
    for path in [
        format!("/api/v1/records/patient/{id}?deleted=true"),
        "/healthz".to_string(),
    ] {
        client
            .get(format!("http://{address}{path}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    }
    let _ = server.0.kill();
    let _ = server.0.wait();
    let mut log = String::new();
    server
        .0
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut log)
        .expect("read the log");
    assert!(!log.contains(id), "no record id in the log:\n{log}");
    assert!(!log.contains("deleted=true"), "no query string:\n{log}");
    log
}

fn access_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("kangdao::access"))
        .collect()
}

async fn logs_off_a_terminal(backend: Backend) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = FreshDatabase::new(backend).await;
    let key = db.data_dir.join("master.key");
    kangdao_engine::crypto::generate_key_file(&key).expect("key file");

    // Defaults: text at info, no colour codes into a pipe.
    let log = serve_and_read_log(&db, &key, &[], &[], None).await;
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escapes off a terminal:\n{log:?}"
    );
    let access = access_lines(&log);
    assert_eq!(access.len(), 2, "one access line a request:\n{log}");
    assert!(
        access[0].contains("/api/v1/records/{entity}/{id}")
            && access[0].contains("status=401")
            && access[0].contains("ms="),
        "{log}"
    );
    assert!(
        access[1].contains("route=\"/healthz\"") || access[1].contains("route=/healthz"),
        "{log}"
    );

    // JSON lines from the environment; every line is an object.
    let log = serve_and_read_log(&db, &key, &[], &[("KANGDAO_LOG_FORMAT", "json")], None).await;
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let access: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["target"] == "kangdao::access")
        .collect();
    assert_eq!(access.len(), 2, "{log}");
    assert_eq!(access[0]["route"], "/api/v1/records/{entity}/{id}");
    assert_eq!(access[0]["method"], "GET");
    assert_eq!(access[0]["status"], 401);
    assert!(access[0]["ms"].is_u64(), "{log}");
    assert_eq!(access[1]["route"], "/healthz");

    // log_level from the flag, then from the file: warn drops the access lines.
    let log = serve_and_read_log(&db, &key, &["--log-level", "warn"], &[], None).await;
    assert!(access_lines(&log).is_empty(), "{log}");
    let log = serve_and_read_log(
        &db,
        &key,
        &[],
        &[],
        Some("log_level = \"warn\"\nlog_format = \"json\"\n"),
    )
    .await;
    assert!(access_lines(&log).is_empty(), "{log}");
    // The environment wins over the file.
    let log = serve_and_read_log(
        &db,
        &key,
        &[],
        &[("KANGDAO_LOG_LEVEL", "info")],
        Some("log_level = \"warn\"\nlog_format = \"json\"\n"),
    )
    .await;
    assert_eq!(access_lines(&log).len(), 2, "{log}");
    assert!(
        log.lines().all(|l| l.starts_with('{')),
        "json from the file:\n{log}"
    );
    // KANGDAO_LOG, a full directive, wins over log_level.
    let log = serve_and_read_log(
        &db,
        &key,
        &["--log-level", "error"],
        &[("KANGDAO_LOG", "warn,kangdao::access=info")],
        None,
    )
    .await;
    assert_eq!(access_lines(&log).len(), 2, "{log}");

    // A level the server does not know is refused, naming the flag.
    let out = Command::new(env!("CARGO_BIN_EXE_kangdao"))
        .args(["migrate", "--log-level", "loud", "--database-url"])
        .arg(&db.url)
        .output()
        .expect("run kangdao");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--log-level"));
}

#[tokio::test]
async fn sqlite_logs() {
    logs_off_a_terminal(Backend::Sqlite).await
}

#[tokio::test]
async fn postgres_logs() {
    logs_off_a_terminal(Backend::Postgres).await
}
