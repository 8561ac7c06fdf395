//! The `kangdao` binary as IT runs it: adding users from a pipe, serving, and refusing a key
//! the database was not written with, on SQLite and PostgreSQL.

// Shared with the tests crate; this test uses only part of it.
#[allow(dead_code)]
#[path = "../../tests/src/backends.rs"]
mod backends;

use backends::{Backend, FreshDatabase};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn kangdao(db: &FreshDatabase, key_file: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kangdao"))
        .args(args)
        .arg("--database-url")
        .arg(&db.url)
        .arg("--data-dir")
        .arg(&db.data_dir)
        .arg("--key-file")
        .arg(key_file)
        .env("KANGDAO_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kangdao");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// Stops the server even when an assertion fails first.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn user_add_serve_and_key_refusal(backend: Backend) {
    let db = FreshDatabase::new(backend).await;
    let key = db.data_dir.join("master.key");
    kangdao_engine::crypto::generate_key_file(&key).expect("key file");

    let out = kangdao(
        &db,
        &key,
        &["user", "add", "--username", "admin", "--admin"],
        "pass-word-1\npass-word-1\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("administrator"));
    let out = kangdao(
        &db,
        &key,
        &["user", "add", "--username", "nurse"],
        "pass-word-1\nsomething-else\n",
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("differ"), "{}", text(&out));
    let out = kangdao(
        &db,
        &key,
        &["user", "add", "--username", "admin"],
        "pass-word-2\n",
    );
    assert!(!out.status.success(), "a taken user name must fail");
    let out = kangdao(
        &db,
        &key,
        &["user", "add", "--username", "short"],
        "short\n",
    );
    assert!(!out.status.success(), "a too short password must fail");

    // Serve and log in with the added administrator.
    let mut server = Running(
        Command::new(env!("CARGO_BIN_EXE_kangdao"))
            .args(["serve", "--bind", "127.0.0.1:0", "--database-url"])
            .arg(&db.url)
            .arg("--data-dir")
            .arg(&db.data_dir)
            .env("KANGDAO_KEY_FILE", &key)
            .env("KANGDAO_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("serve"),
    );
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("listening line");
    let address = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("address in the listening line")
        .to_string();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::Client::new()
        .post(format!("http://{address}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": "pass-word-1"}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("login at {address} (from {line:?}): {e}"));
    assert_eq!(response.status(), 200);
    drop(server);

    // Another key on the same database: refused, saying why.
    let other = db.data_dir.join("other.key");
    kangdao_engine::crypto::generate_key_file(&other).expect("key file");
    let out = kangdao(&db, &other, &["migrate"], "");
    assert!(
        !out.status.success(),
        "a server with another key must refuse to start"
    );
    assert!(
        text(&out).contains("not the key this database was written with"),
        "{}",
        text(&out)
    );
    let out = kangdao(&db, &key, &["migrate"], "");
    assert!(out.status.success(), "{}", text(&out));
}

#[tokio::test]
async fn sqlite_cli() {
    user_add_serve_and_key_refusal(Backend::Sqlite).await
}

#[tokio::test]
async fn postgres_cli() {
    user_add_serve_and_key_refusal(Backend::Postgres).await
}
