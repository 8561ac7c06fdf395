//! One process's SQLite writers take turns here, first come first served, before `BEGIN
//! IMMEDIATE`: they queue on an async lock instead of on SQLite's busy handler, which sleeps 1,
//! 2, 5, 10 … 100 ms between tries and so puts those sleeps into the slowest answers. Other
//! processes on the same file still meet SQLite's busy timeout.

use sqlx::error::{DatabaseError, ErrorKind};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// How long a writer waits for the write lock, in this queue or in SQLite's busy handler.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The queue of one process's writers to one database.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteQueue(Arc<Mutex<()>>);

/// A writer's turn: the next writer starts when it is dropped.
#[derive(Debug)]
pub(crate) struct WriteTurn {
    _held: OwnedMutexGuard<()>,
}

impl WriteQueue {
    /// Waits for this writer's turn, at most the busy timeout. Waiting longer is the error a
    /// database busy for that long gives, so callers (a definition change answering 409, say)
    /// cannot tell this process's writers from another's.
    pub(crate) async fn turn(&self) -> Result<WriteTurn, sqlx::Error> {
        tokio::time::timeout(BUSY_TIMEOUT, Arc::clone(&self.0).lock_owned())
            .await
            .map(|held| WriteTurn { _held: held })
            .map_err(|_| sqlx::Error::Database(Box::new(QueueTimedOut)))
    }
}

/// SQLite's own busy error: code 5 (`SQLITE_BUSY`), "database is locked".
#[derive(Debug)]
struct QueueTimedOut;

impl std::fmt::Display for QueueTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for QueueTimedOut {}

impl DatabaseError for QueueTimedOut {
    fn message(&self) -> &str {
        "database is locked"
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed("5"))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn writers_take_turns_in_arrival_order() {
        let queue = WriteQueue::default();
        let first = queue.turn().await.unwrap();
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        for n in 0..5 {
            let (queue, order) = (queue.clone(), Arc::clone(&order));
            waiting.push(tokio::spawn(async move {
                let _turn = queue.turn().await.unwrap();
                order.lock().unwrap().push(n);
            }));
            // Each waiter is queued before the next one arrives.
            tokio::task::yield_now().await;
        }
        drop(first);
        for w in waiting {
            w.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_past_the_busy_timeout_is_sqlites_busy_error() {
        let queue = WriteQueue::default();
        let _held = queue.turn().await.unwrap();
        let started = tokio::time::Instant::now();
        let Err(sqlx::Error::Database(e)) = queue.turn().await else {
            panic!("a second writer must time out while the first holds its turn");
        };
        assert_eq!(started.elapsed(), BUSY_TIMEOUT);
        assert_eq!(e.code().as_deref(), Some("5"));
        assert_eq!(e.message(), "database is locked");
    }
}
