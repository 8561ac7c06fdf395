//! Fresh databases on SQLite (a temporary file) and PostgreSQL (a new database on the server at
//! `KANGDAO_TEST_PG`, default `postgres://postgres@127.0.0.1:5432/test`).

use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub const ALL: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];
}

pub fn postgres_admin_url() -> String {
    std::env::var("KANGDAO_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A database that exists for one test; dropped (best effort) with the value.
pub struct FreshDatabase {
    pub backend: Backend,
    pub url: String,
    /// The folder for the SQLite file, keys and other data of this test.
    pub data_dir: PathBuf,
    pg_name: Option<String>,
}

impl FreshDatabase {
    pub async fn new(backend: Backend) -> FreshDatabase {
        let data_dir =
            std::env::temp_dir().join(format!("kangdao-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&data_dir).expect("create test data dir");
        match backend {
            Backend::Sqlite => FreshDatabase {
                backend,
                url: format!("sqlite://{}", data_dir.join("kangdao.db").display()),
                data_dir,
                pg_name: None,
            },
            Backend::Postgres => {
                let name = format!("kd_{}", uuid::Uuid::new_v4().simple());
                let admin = postgres_admin_url();
                let mut last_error = None;
                // CREATE DATABASE copies template1 and fails while another copy is running.
                for attempt in 0..20 {
                    match create_pg_database(&admin, &name).await {
                        Ok(()) => {
                            last_error = None;
                            break;
                        }
                        Err(e) => {
                            last_error = Some(e);
                            tokio::time::sleep(std::time::Duration::from_millis(
                                50 * (attempt + 1),
                            ))
                            .await;
                        }
                    }
                }
                if let Some(e) = last_error {
                    panic!("cannot create a PostgreSQL test database at {admin}: {e}");
                }
                let base = admin
                    .rsplit_once('/')
                    .map(|(b, _)| b.to_string())
                    .unwrap_or(admin);
                FreshDatabase {
                    backend,
                    url: format!("{base}/{name}"),
                    data_dir,
                    pg_name: Some(name),
                }
            }
        }
    }
}

async fn create_pg_database(admin: &str, name: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin).await?;
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await?;
    conn.close().await
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some(name) = self.pg_name.take() {
            let admin = postgres_admin_url();
            // A plain thread: Drop may run inside or outside a runtime.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    use sqlx::Connection;
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                        let _ = sqlx::query(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .execute(&mut conn)
                        .await;
                    }
                });
            })
            .join();
        }
    }
}
