//! Running a take of step jobs in shared transactions. Each job runs inside its own savepoint
//! and is fenced by its own lease, so a job whose lease was lost or whose node failed is rolled
//! back alone; the rest commit together. One commit then carries many steps: the commit, not
//! the statements, was most of a short step's cost.

use super::step::StepOutcome;
use super::worker::STEP;
use crate::engine::Engine;
use crate::error::Result;
use crate::jobs::LeasedJob;
use crate::store::{Backend, Conn};
use std::time::{Duration, Instant};

/// How long one shared transaction stays open at most before it commits and the next begins:
/// on SQLite every other writer waits for it, on PostgreSQL the rows it wrote stay locked.
const HOLD: Duration = Duration::from_millis(20);

/// Jobs one shared transaction runs at most. Each job's savepoint, and each node run in place
/// after it, is a PostgreSQL subtransaction; past 64 in one transaction every other session's
/// snapshot must look them up in `pg_subtrans`, which slows the whole server.
const JOBS_PER_TRANSACTION: usize = 20;

/// Shared transactions one take runs at once on PostgreSQL.
const LANES: usize = 3;

/// What the jobs of one shared transaction left to do once it ended.
#[derive(Default)]
struct Leftover {
    /// To run again, each in a transaction of its own: a job that met an error (a deadlock
    /// victim, say), or every job of a transaction that failed to commit.
    alone: Vec<LeasedJob>,
    /// `webhook_call` steps: sent with no transaction open, after the commit.
    calls: Vec<(LeasedJob, StepOutcome)>,
}

impl Engine {
    /// Runs the jobs of one take: step jobs in shared transactions (in run order, so two
    /// workers lock runs in the same order), any other kind in a transaction of its own.
    /// On PostgreSQL the steps are split into [`LANES`] runs of transactions at once: a step
    /// waits on round trips far more than on the server, and two cores left idle are the
    /// throughput lost. SQLite's writers take turns, so there one lane does it all.
    pub(super) async fn run_taken(&self, taken: Vec<LeasedJob>) {
        let (mut steps, others): (Vec<_>, Vec<_>) =
            taken.into_iter().partition(|job| job.kind == STEP);
        steps.sort_by_key(|job| (job.run_id, job.id));
        let lanes = match self.db.backend() {
            Backend::Postgres => LANES,
            Backend::Sqlite => 1,
        };
        let per_lane = steps.len().div_ceil(lanes).max(1);
        let mut lanes = tokio::task::JoinSet::new();
        let mut chunks = Vec::new();
        while steps.len() > per_lane {
            let rest = steps.split_off(per_lane);
            chunks.push(std::mem::replace(&mut steps, rest));
        }
        for chunk in chunks {
            let engine = self.clone();
            lanes.spawn(async move { engine.run_lane(chunk).await });
        }
        let mut alone = self.run_lane(steps).await;
        while let Some(joined) = lanes.join_next().await {
            match joined {
                Ok(left) => alone.extend(left),
                // Its jobs' leases run out and another round takes them again.
                Err(e) => tracing::warn!(error = %e, "a lane of flow steps panicked"),
            }
        }
        alone.extend(others);
        for job in alone {
            if let Err(e) = self.run_job(job).await {
                tracing::warn!(error = %e, "flow step failed to run");
            }
        }
    }

    /// Runs `steps` in shared transactions one after another; answers the jobs left to run
    /// alone.
    async fn run_lane(&self, steps: Vec<LeasedJob>) -> Vec<LeasedJob> {
        let mut steps = steps.into_iter().peekable();
        let mut alone = Vec::new();
        while steps.peek().is_some() {
            let leftover = self.shared_transaction(&mut steps).await;
            for (job, outcome) in leftover.calls {
                if let StepOutcome::Call { run, flow, node } = outcome {
                    if let Err(e) = self.run_webhook_call(job, run, flow, &node).await {
                        tracing::warn!(error = %e, "flow step failed to run");
                    }
                }
            }
            alone.extend(leftover.alone);
        }
        alone
    }

    /// Runs step jobs from `steps` in one transaction until [`HOLD`] has passed, it ran
    /// [`JOBS_PER_TRANSACTION`] or none is left, then commits.
    async fn shared_transaction(
        &self,
        steps: &mut std::iter::Peekable<std::vec::IntoIter<LeasedJob>>,
    ) -> Leftover {
        let mut leftover = Leftover::default();
        let mut included = Vec::new();
        let outcome: Result<()> = async {
            let mut tx = self.db.begin().await?;
            let mut conn = tx.conn();
            // Timed from the write turn taken (SQLite's queue may have made it wait), and one
            // job at least: a transaction that ran none would only wait for the next turn.
            let begun = Instant::now();
            while included.is_empty()
                || (begun.elapsed() < HOLD && included.len() < JOBS_PER_TRANSACTION)
            {
                let Some(job) = steps.next() else { break };
                included.push(job.clone());
                self.fenced_step(&mut conn, job, &mut leftover).await?;
            }
            tx.commit().await
        }
        .await;
        match outcome {
            Ok(()) => self.wake_flow_worker(),
            Err(e) => {
                tracing::warn!(error = %e, "a shared flow step transaction failed; its steps run alone");
                leftover.calls.clear();
                leftover.alone = included;
                if leftover.alone.is_empty() {
                    // Not even begun: the rest of the take would meet the same.
                    leftover.alone.extend(steps.by_ref());
                }
            }
        }
        leftover
    }

    /// One job inside its savepoint. Errs only when the savepoint itself cannot be rolled
    /// back (the connection is gone): then the whole transaction is lost.
    async fn fenced_step(
        &self,
        conn: &mut Conn<'_>,
        job: LeasedJob,
        leftover: &mut Leftover,
    ) -> Result<()> {
        conn.execute("SAVEPOINT flow_job", vec![]).await?;
        let keep = match self.step_in(conn, &job).await {
            Ok(StepOutcome::Written) => true,
            Ok(StepOutcome::LeaseLost) => false,
            Ok(StepOutcome::Failed {
                run,
                node,
                node_type,
                failure,
            }) => {
                conn.execute("ROLLBACK TO SAVEPOINT flow_job", vec![])
                    .await?;
                let backoff = crate::jobs::step_backoff(job.attempts);
                match self
                    .fail_run_in(conn, &job, &run, &node, node_type, &failure, backoff)
                    .await
                {
                    Ok(recorded) => recorded,
                    Err(e) => {
                        tracing::warn!(error = %e, "recording a failed flow step failed");
                        leftover.alone.push(job);
                        false
                    }
                }
            }
            Ok(call @ StepOutcome::Call { .. }) => {
                leftover.calls.push((job, call));
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "flow step failed to run; it runs again alone");
                leftover.alone.push(job);
                false
            }
        };
        if !keep {
            conn.execute("ROLLBACK TO SAVEPOINT flow_job", vec![])
                .await?;
        }
        conn.execute("RELEASE SAVEPOINT flow_job", vec![]).await?;
        Ok(())
    }
}
