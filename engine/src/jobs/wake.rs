//! Waking the worker loop when this process commits a job.

use std::sync::Arc;
use tokio::sync::Notify;

/// The engine holds one and hands clones to whoever enqueues; the runtime's worker loop waits
/// on it beside its poll timer. A job committed by another instance is seen at the next poll.
///
/// Wake only after the commit: a worker woken before it would not see the job yet, and the
/// permit would be spent. One permit is kept while the loop is busy, so a wake during a round
/// of work is not lost; several wakes before the loop looks again make one round.
#[derive(Debug, Clone, Default)]
pub struct JobWake(Arc<Notify>);

impl JobWake {
    pub fn new() -> JobWake {
        JobWake::default()
    }

    /// Tells the loop a job may be due.
    pub fn wake(&self) {
        self.0.notify_one();
    }

    /// Resolves at the next wake, or at once when one came since the loop last looked.
    pub async fn woken(&self) {
        self.0.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_wake_while_the_loop_is_busy_is_kept_for_its_next_look() {
        let wake = JobWake::new();
        wake.wake();
        wake.wake();
        tokio::time::timeout(Duration::from_millis(1), wake.woken())
            .await
            .expect("the kept wake resolves at once");
        // Two wakes made one round: nothing is left.
        assert!(
            tokio::time::timeout(Duration::from_millis(250), wake.woken())
                .await
                .is_err()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_loop_is_woken_by_a_clone() {
        let wake = JobWake::new();
        let enqueuer = wake.clone();
        let waiter = tokio::spawn(async move { wake.woken().await });
        tokio::task::yield_now().await;
        enqueuer.wake();
        tokio::time::timeout(Duration::from_millis(1), waiter)
            .await
            .expect("woken")
            .unwrap();
    }
}
