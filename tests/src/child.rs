//! A server in a process of its own, for the tests that kill it (SIGKILL) mid-work and start
//! another on the same database.
//!
//! The child is the test binary itself, run again with the test named by [`CHILD_TEST`] and
//! the database in its environment: every test file that starts children declares
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//! async fn child_server_for_kill_tests() {
//!     kangdao_tests::child::serve_if_asked().await
//! }
//! ```

use crate::backends::FreshDatabase;
use crate::server::{create_admin, test_config};
use std::io::BufRead;
use std::time::Duration;

/// The name of the test every binary that starts children declares (see the module).
pub const CHILD_TEST: &str = "child_server_for_kill_tests";
const CHILD_URL: &str = "KANGDAO_TEST_CHILD_DATABASE_URL";
const CHILD_DATA_DIR: &str = "KANGDAO_TEST_CHILD_DATA_DIR";
const CHILD_LISTENING: &str = "child server listening on ";

/// In the child: serves the database it is given until it is killed. In a normal test run
/// (without its variables) it does nothing.
pub async fn serve_if_asked() {
    let (Ok(url), Ok(data_dir)) = (std::env::var(CHILD_URL), std::env::var(CHILD_DATA_DIR)) else {
        return;
    };
    let state = kangdao_server::build_state(test_config(&url, std::path::Path::new(&data_dir)))
        .await
        .expect("server state");
    create_admin(&state.engine).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    println!(
        "{CHILD_LISTENING}http://{}",
        listener.local_addr().expect("addr")
    );
    let _ = kangdao_server::launch(listener, state, std::future::pending()).await;
}

/// A server in a process of its own, killed (SIGKILL on Unix) when dropped.
pub struct ChildServer {
    process: std::process::Child,
    pub base: String,
}

impl ChildServer {
    pub async fn start(db: &FreshDatabase) -> ChildServer {
        let mut process = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([CHILD_TEST, "--exact", "--nocapture"])
            .env(CHILD_URL, &db.url)
            .env(CHILD_DATA_DIR, &db.data_dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the child server");
        let stdout = process.stdout.take().expect("child's output");
        let (found, base) = tokio::sync::oneshot::channel();
        // Reads the address, then keeps reading so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(base) = line.strip_prefix(CHILD_LISTENING) {
                    if let Some(found) = found.take() {
                        let _ = found.send(base.to_string());
                    }
                }
            }
        });
        let base = tokio::time::timeout(Duration::from_secs(120), base)
            .await
            .expect("the child server starts")
            .expect("the child server says where it listens");
        ChildServer { process, base }
    }

    /// SIGKILL: no shutdown, no lease released, no checkpoint, no closing.
    pub fn kill(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.kill();
    }
}
