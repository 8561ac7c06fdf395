//! Test set-up shared by the access tests: every storage scenario runs on SQLite (a temp
//! file) and on PostgreSQL (a fresh database per run), and a clock the test moves by hand.

use crate::clock::Clock;
use crate::store::{migrate, Db, DbOptions};
use std::future::Future;
use std::sync::Mutex;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// The PostgreSQL server tests use; `KANGDAO_TEST_PG` overrides it.
pub fn pg_admin_url() -> String {
    std::env::var("KANGDAO_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn new() -> ManualClock {
        ManualClock(Mutex::new(time::macros::datetime!(2026-11-24 08:00:00 UTC)))
    }
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn sqlite_db() -> (Db, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("kd-access-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/t.db", dir.display());
    let db = Db::connect(&DbOptions {
        url,
        max_connections: 4,
    })
    .await
    .unwrap();
    migrate(&db).await.unwrap();
    (db, dir)
}

async fn postgres_db() -> (Db, String) {
    let admin_url = pg_admin_url();
    let admin = Db::connect(&DbOptions {
        url: admin_url.clone(),
        max_connections: 2,
    })
    .await
    .expect("PostgreSQL for tests (set KANGDAO_TEST_PG)");
    let name = format!("kd_{}", Uuid::new_v4().simple());
    admin
        .execute(&format!("CREATE DATABASE {name}"), vec![])
        .await
        .unwrap();
    admin.close().await;
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap_or(admin_url);
    let db = Db::connect(&DbOptions {
        url: format!("{base}/{name}"),
        max_connections: 4,
    })
    .await
    .unwrap();
    migrate(&db).await.unwrap();
    (db, name)
}

async fn drop_pg(name: &str) {
    if let Ok(admin) = Db::connect(&DbOptions {
        url: pg_admin_url(),
        max_connections: 2,
    })
    .await
    {
        let _ = admin
            .execute(
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                vec![],
            )
            .await;
        admin.close().await;
    }
}

/// Runs `scenario` on a fresh migrated SQLite database and then on a fresh PostgreSQL one,
/// cleaning up after each even when it fails; a failure names the backend.
pub async fn for_each_backend<F, Fut>(scenario: F)
where
    F: Fn(Db) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (db, dir) = sqlite_db().await;
    let outcome = tokio::spawn(scenario(db.clone())).await;
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = outcome {
        panic!("scenario failed on SQLite: {e}");
    }

    let (db, name) = postgres_db().await;
    let outcome = tokio::spawn(scenario(db.clone())).await;
    db.close().await;
    drop_pg(&name).await;
    if let Err(e) = outcome {
        panic!("scenario failed on PostgreSQL: {e}");
    }
}
