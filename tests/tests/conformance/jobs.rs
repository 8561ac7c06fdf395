//! The flow runtime's job queue: a job commits with the write that made it, is taken only when
//! due and by one worker at a time, and a worker whose lease was lost commits nothing.

use crate::support::*;
use kangdao_engine::jobs::{self, JobState, LeasedJob, NewJob, Retried, LEASE};
use kangdao_engine::store::{Arg, Db};
use kangdao_engine::EngineError;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

on_both_backends!(
    a_job_commits_with_its_write_and_is_taken_and_completed_once,
    a_job_is_not_taken_before_it_is_due,
    a_lost_lease_commits_nothing,
    a_dedupe_key_makes_one_job,
    a_failing_step_backs_off_then_dies,
    cancelling_a_run_or_a_records_timers,
    released_jobs_are_taken_again_at_once,
    pruning_deletes_finished_jobs_in_batches,
    concurrent_takers_never_share_a_job
);

fn step(due_at: OffsetDateTime) -> NewJob {
    NewJob::new("step", json!({"step": 1}), due_at)
}

/// Enqueues `job` in a transaction of its own.
async fn enqueue(ctx: &Ctx, job: NewJob) -> Option<Uuid> {
    let mut tx = ctx.db().begin().await.unwrap();
    let id = jobs::enqueue(&mut tx.conn(), job, ctx.engine.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

async fn take(ctx: &Ctx, owner: &str, limit: i64) -> Vec<LeasedJob> {
    jobs::take_due(ctx.db(), owner, ctx.engine.now(), limit, LEASE)
        .await
        .unwrap()
}

async fn state(db: &Db, id: Uuid) -> JobState {
    jobs::load(db, id).await.unwrap().expect("the job").state
}

async fn meta(db: &Db, key: &str) -> Option<String> {
    db.fetch_optional("SELECT value FROM meta WHERE key = $1", vec![key.into()])
        .await
        .unwrap()
        .map(|row| row.req_text("value").unwrap())
}

/// Writes a row as a step's effect and completes `job` in the same transaction, as the runtime
/// does; answers the outcome after commit or rollback.
async fn complete_with_effect(ctx: &Ctx, job: &LeasedJob, key: &str) -> Result<(), EngineError> {
    let mut tx = ctx.db().begin().await.unwrap();
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ($1, $2)",
        vec![key.into(), job.lease.owner.clone().into()],
    )
    .await
    .unwrap();
    match jobs::complete(&mut tx.conn(), job, ctx.engine.now()).await {
        Ok(()) => {
            tx.commit().await.unwrap();
            Ok(())
        }
        // Dropped: rolled back.
        Err(e) => Err(e),
    }
}

async fn a_job_commits_with_its_write_and_is_taken_and_completed_once(backend: Backend) {
    let ctx = open(backend).await;
    let now = ctx.engine.now();
    let run = Uuid::now_v7();

    // A job enqueued in a transaction that rolls back never existed.
    {
        let mut tx = ctx.db().begin().await.unwrap();
        jobs::enqueue(&mut tx.conn(), step(now).for_node(run, "ghost"), now)
            .await
            .unwrap()
            .expect("enqueued");
    }
    let id = enqueue(&ctx, step(now).for_node(run, "notify"))
        .await
        .unwrap();

    let taken = take(&ctx, "worker-a", 10).await;
    assert_eq!(taken.len(), 1, "only the committed job is there");
    let job = &taken[0];
    assert_eq!(job.id, id);
    assert_eq!(job.run_id, Some(run));
    assert_eq!(job.node.as_deref(), Some("notify"));
    assert_eq!(job.kind, "step");
    assert_eq!(job.payload, json!({"step": 1}));
    assert_eq!(job.attempts, 1);
    assert_eq!(job.lease.owner, "worker-a");
    assert_eq!(job.lease.until, now + LEASE);
    assert_eq!(state(ctx.db(), id).await, JobState::Running);

    // A running job under its lease is nobody else's.
    assert!(take(&ctx, "worker-b", 10).await.is_empty());

    complete_with_effect(&ctx, job, "effect").await.unwrap();
    let stored = jobs::load(ctx.db(), id).await.unwrap().unwrap();
    assert_eq!(stored.state, JobState::Done);
    assert_eq!(stored.lease_until, None);
    assert_eq!(meta(ctx.db(), "effect").await.as_deref(), Some("worker-a"));

    // Done is done: a second complete is refused, and nothing is due, even long after.
    let mut tx = ctx.db().begin().await.unwrap();
    let again = jobs::complete(&mut tx.conn(), job, now).await;
    assert!(matches!(again, Err(EngineError::LeaseLost { job }) if job == id));
    drop(tx);
    ctx.clock.advance(Duration::hours(1));
    assert!(take(&ctx, "worker-b", 10).await.is_empty());
}

async fn a_job_is_not_taken_before_it_is_due(backend: Backend) {
    let ctx = open(backend).await;
    let now = ctx.engine.now();
    let later = enqueue(&ctx, step(now + Duration::minutes(5)))
        .await
        .unwrap();
    let sooner = enqueue(&ctx, step(now + Duration::minutes(2)))
        .await
        .unwrap();

    assert!(take(&ctx, "w", 10).await.is_empty());
    ctx.clock
        .advance(Duration::minutes(2) - Duration::microseconds(1));
    assert!(take(&ctx, "w", 10).await.is_empty(), "a microsecond early");
    ctx.clock.advance(Duration::microseconds(1));
    let taken = take(&ctx, "w", 10).await;
    assert_eq!(taken.iter().map(|j| j.id).collect::<Vec<_>>(), vec![sooner]);
    complete_with_effect(&ctx, &taken[0], "sooner")
        .await
        .unwrap();

    ctx.clock.advance(Duration::minutes(10));
    let taken: Vec<Uuid> = take(&ctx, "w", 10).await.iter().map(|j| j.id).collect();
    assert_eq!(taken, vec![later]);

    // Earliest due first, at most `limit`.
    let now = ctx.engine.now();
    let mut ids = Vec::new();
    for minutes in [3, 1, 2] {
        ids.push(
            enqueue(&ctx, step(now - Duration::minutes(minutes)))
                .await
                .unwrap(),
        );
    }
    let taken: Vec<Uuid> = take(&ctx, "w", 2).await.iter().map(|j| j.id).collect();
    assert_eq!(taken, vec![ids[0], ids[2]]);
}

async fn a_lost_lease_commits_nothing(backend: Backend) {
    let ctx = open(backend).await;
    let id = enqueue(&ctx, step(ctx.engine.now())).await.unwrap();
    let mut first = take(&ctx, "worker-a", 1).await.remove(0);

    // Extending keeps the job from another worker past the first lease's end.
    ctx.clock.advance(Duration::seconds(20));
    jobs::extend_lease(ctx.db(), &mut first, ctx.engine.now(), LEASE)
        .await
        .unwrap();
    assert_eq!(first.lease.until, ctx.engine.now() + LEASE);
    ctx.clock.advance(Duration::seconds(20));
    assert!(take(&ctx, "worker-b", 1).await.is_empty());

    // The worker stalls; its lease expires and another worker takes the job.
    ctx.clock.advance(LEASE);
    let second = take(&ctx, "worker-b", 1).await.remove(0);
    assert_eq!(second.id, id);
    assert_eq!(second.attempts, 2);
    assert_ne!(second.lease.token, first.lease.token);

    // The first worker's step commits nothing: not its effect, not the job's state.
    let lost = complete_with_effect(&ctx, &first, "first-effect").await;
    assert!(matches!(lost, Err(EngineError::LeaseLost { job }) if job == id));
    assert!(lost.unwrap_err().is_lease_lost());
    assert_eq!(meta(ctx.db(), "first-effect").await, None);
    assert_eq!(state(ctx.db(), id).await, JobState::Running);
    let extend = jobs::extend_lease(ctx.db(), &mut first, ctx.engine.now(), LEASE).await;
    assert!(matches!(extend, Err(EngineError::LeaseLost { .. })));
    let mut tx = ctx.db().begin().await.unwrap();
    let retry = jobs::retry_later(&mut tx.conn(), &first, ctx.engine.now(), "x", LEASE).await;
    assert!(matches!(retry, Err(EngineError::LeaseLost { .. })));
    drop(tx);

    // The second worker's does.
    complete_with_effect(&ctx, &second, "second-effect")
        .await
        .unwrap();
    assert_eq!(
        meta(ctx.db(), "second-effect").await.as_deref(),
        Some("worker-b")
    );
    assert_eq!(state(ctx.db(), id).await, JobState::Done);
}

async fn a_dedupe_key_makes_one_job(backend: Backend) {
    let ctx = open(backend).await;
    let now = ctx.engine.now();
    let record = Uuid::now_v7();
    let fire = now + Duration::days(3);
    let key = jobs::timer_key("recheck_reminder", record, fire);
    let timer = || NewJob::new("timer", json!({"record": record}), fire).dedupe(key.clone());

    let first = enqueue(&ctx, timer()).await.expect("the first is enqueued");
    // The sweep and the change hook may both schedule it: the second does nothing, and the
    // transaction it ran in still commits its other writes.
    let mut tx = ctx.db().begin().await.unwrap();
    assert_eq!(
        jobs::enqueue(&mut tx.conn(), timer(), now).await.unwrap(),
        None
    );
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('after-dedupe', 'kept')",
        vec![],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        meta(ctx.db(), "after-dedupe").await.as_deref(),
        Some("kept")
    );
    let count = ctx
        .db()
        .fetch_one("SELECT COUNT(*) AS n FROM flow_jobs", vec![])
        .await
        .unwrap()
        .req_int("n")
        .unwrap();
    assert_eq!(count, 1);

    // Jobs without a key never collide.
    assert!(enqueue(&ctx, step(now)).await.is_some());
    assert!(enqueue(&ctx, step(now)).await.is_some());

    // A fired timer keeps its key: it is not scheduled again.
    ctx.clock.advance(Duration::days(3));
    let job = take(&ctx, "w", 10)
        .await
        .into_iter()
        .find(|j| j.id == first)
        .expect("the timer is due");
    complete_with_effect(&ctx, &job, "fired").await.unwrap();
    assert_eq!(enqueue(&ctx, timer()).await, None);
}

async fn a_failing_step_backs_off_then_dies(backend: Backend) {
    let ctx = open(backend).await;
    let id = enqueue(&ctx, step(ctx.engine.now()).max_attempts(3))
        .await
        .unwrap();

    let mut expected_waits = Vec::new();
    let mut outcome = None;
    for attempt in 1..=3 {
        let job = take(&ctx, "w", 1).await.remove(0);
        assert_eq!(job.attempts, attempt);
        let now = ctx.engine.now();
        let backoff = jobs::step_backoff(job.attempts);
        let mut tx = ctx.db().begin().await.unwrap();
        let retried = jobs::retry_later(
            &mut tx.conn(),
            &job,
            now,
            &format!("gateway answered 503 (attempt {attempt})"),
            backoff,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        outcome = Some(retried);
        if let Retried::At(at) = retried {
            assert_eq!(at, now + backoff);
            expected_waits.push(backoff.whole_seconds());
            let stored = jobs::load(ctx.db(), id).await.unwrap().unwrap();
            assert_eq!(stored.state, JobState::Ready);
            assert_eq!(stored.due_at, at);
            // Not before the backoff has passed.
            ctx.clock.advance(backoff - Duration::milliseconds(1));
            assert!(take(&ctx, "w", 1).await.is_empty());
            ctx.clock.advance(Duration::milliseconds(1));
        }
    }
    assert_eq!(expected_waits, vec![1, 4]);
    assert_eq!(outcome, Some(Retried::Dead));
    let stored = jobs::load(ctx.db(), id).await.unwrap().unwrap();
    assert_eq!(stored.state, JobState::Dead);
    assert_eq!(stored.attempts, 3);
    assert_eq!(
        stored.last_error.as_deref(),
        Some("gateway answered 503 (attempt 3)")
    );
    ctx.clock.advance(Duration::days(1));
    assert!(take(&ctx, "w", 1).await.is_empty(), "a dead job stays dead");

    // A deterministic failure dies at once, attempts left or not.
    let id = enqueue(&ctx, step(ctx.engine.now())).await.unwrap();
    let job = take(&ctx, "w", 1).await.remove(0);
    let mut tx = ctx.db().begin().await.unwrap();
    jobs::fail_permanently(&mut tx.conn(), &job, ctx.engine.now(), "expression_error")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let stored = jobs::load(ctx.db(), id).await.unwrap().unwrap();
    assert_eq!(stored.state, JobState::Dead);
    assert_eq!(stored.attempts, 1);
    assert_eq!(stored.last_error.as_deref(), Some("expression_error"));
}

async fn cancelling_a_run_or_a_records_timers(backend: Backend) {
    let ctx = open(backend).await;
    let now = ctx.engine.now();
    let (run, other_run) = (Uuid::now_v7(), Uuid::now_v7());
    let running = enqueue(&ctx, step(now).for_node(run, "a")).await.unwrap();
    let leased = take(&ctx, "w", 1).await.remove(0);
    assert_eq!(leased.id, running);
    let waiting = enqueue(&ctx, step(now + Duration::hours(1)).for_node(run, "b"))
        .await
        .unwrap();
    let others = enqueue(&ctx, step(now).for_node(other_run, "a"))
        .await
        .unwrap();

    let mut tx = ctx.db().begin().await.unwrap();
    assert_eq!(
        jobs::cancel_for_run(&mut tx.conn(), run, now)
            .await
            .unwrap(),
        2
    );
    tx.commit().await.unwrap();
    assert_eq!(state(ctx.db(), running).await, JobState::Cancelled);
    assert_eq!(state(ctx.db(), waiting).await, JobState::Cancelled);
    assert_eq!(state(ctx.db(), others).await, JobState::Ready);
    // The step in flight of the cancelled run commits nothing.
    assert!(complete_with_effect(&ctx, &leased, "cancelled-effect")
        .await
        .unwrap_err()
        .is_lease_lost());
    assert_eq!(meta(ctx.db(), "cancelled-effect").await, None);
    ctx.clock.advance(Duration::hours(2));
    let taken: Vec<Uuid> = take(&ctx, "w", 10).await.iter().map(|j| j.id).collect();
    assert_eq!(taken, vec![others]);

    // A record's timers of one flow, and no one else's.
    let now = ctx.engine.now();
    let (patient, neighbour) = (Uuid::now_v7(), Uuid::now_v7());
    let timer = |flow: &str, record: Uuid, days: i64| {
        let fire = now + Duration::days(days);
        NewJob::new("timer", json!({"record": record}), fire)
            .dedupe(jobs::timer_key(flow, record, fire))
    };
    let mine = [
        enqueue(&ctx, timer("recheck", patient, 1)).await.unwrap(),
        enqueue(&ctx, timer("recheck", patient, 2)).await.unwrap(),
    ];
    let kept = [
        enqueue(&ctx, timer("recheck", neighbour, 1)).await.unwrap(),
        enqueue(&ctx, timer("recheck_2", patient, 1)).await.unwrap(),
        enqueue(&ctx, timer("re", patient, 1)).await.unwrap(),
    ];
    let mut tx = ctx.db().begin().await.unwrap();
    let cancelled =
        jobs::cancel_by_dedupe_prefix(&mut tx.conn(), &jobs::timer_prefix("recheck", patient), now)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(cancelled, 2);
    for id in mine {
        let job = jobs::load(ctx.db(), id).await.unwrap().unwrap();
        assert_eq!(job.state, JobState::Cancelled);
        assert_eq!(job.dedupe_key, None, "a cancelled timer frees its key");
    }
    for id in kept {
        assert_eq!(state(ctx.db(), id).await, JobState::Ready);
    }
    // So the timer can be scheduled again at the same time (the date was changed back).
    assert!(enqueue(&ctx, timer("recheck", patient, 1)).await.is_some());

    let mut tx = ctx.db().begin().await.unwrap();
    assert!(jobs::cancel_by_dedupe_prefix(&mut tx.conn(), "", now)
        .await
        .is_err());
}

async fn released_jobs_are_taken_again_at_once(backend: Backend) {
    let ctx = open(backend).await;
    let now = ctx.engine.now();
    for _ in 0..3 {
        enqueue(&ctx, step(now)).await.unwrap();
    }
    let mine = take(&ctx, "instance-a", 2).await;
    let theirs = take(&ctx, "instance-b", 1).await;
    assert_eq!((mine.len(), theirs.len()), (2, 1));

    // SIGTERM: instance-a gives its leases back; instance-b keeps its own.
    assert_eq!(jobs::release(ctx.db(), "instance-a", now).await.unwrap(), 2);
    for job in &mine {
        let stored = jobs::load(ctx.db(), job.id).await.unwrap().unwrap();
        assert_eq!(stored.state, JobState::Ready);
        assert_eq!(stored.attempts, 0, "the interrupted attempt is not counted");
        assert_eq!(stored.lease_owner, None);
    }
    assert_eq!(state(ctx.db(), theirs[0].id).await, JobState::Running);

    // Taken again before the old leases would have expired.
    let retaken = take(&ctx, "instance-c", 10).await;
    let mut ids: Vec<Uuid> = retaken.iter().map(|j| j.id).collect();
    ids.sort();
    let mut expected: Vec<Uuid> = mine.iter().map(|j| j.id).collect();
    expected.sort();
    assert_eq!(ids, expected);
    assert!(retaken.iter().all(|j| j.attempts == 1));
    // A late commit of the released instance writes nothing.
    assert!(complete_with_effect(&ctx, &mine[0], "late")
        .await
        .unwrap_err()
        .is_lease_lost());
    assert_eq!(meta(ctx.db(), "late").await, None);
}

async fn pruning_deletes_finished_jobs_in_batches(backend: Backend) {
    let ctx = open(backend).await;
    let start = ctx.engine.now();
    // 2,500 done jobs, so pruning takes three batches.
    let mut tx = ctx.db().begin().await.unwrap();
    for _ in 0..2_500 {
        jobs::enqueue(&mut tx.conn(), step(start), start)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let mut done = 0;
    loop {
        let batch = take(&ctx, "w", 500).await;
        if batch.is_empty() {
            break;
        }
        let mut tx = ctx.db().begin().await.unwrap();
        for job in &batch {
            jobs::complete(&mut tx.conn(), job, start).await.unwrap();
        }
        tx.commit().await.unwrap();
        done += batch.len();
    }
    assert_eq!(done, 2_500);
    // One cancelled and one dead, and one of each kind that must stay.
    let run = Uuid::now_v7();
    enqueue(&ctx, step(start).for_node(run, "x")).await.unwrap();
    let mut tx = ctx.db().begin().await.unwrap();
    jobs::cancel_for_run(&mut tx.conn(), run, start)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    enqueue(&ctx, step(start)).await.unwrap();
    let dying = take(&ctx, "w", 1).await.remove(0);
    let mut tx = ctx.db().begin().await.unwrap();
    jobs::fail_permanently(&mut tx.conn(), &dying, start, "bad")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let pending = enqueue(&ctx, step(start)).await.unwrap();

    ctx.clock.advance(Duration::days(91));
    let recent = enqueue(&ctx, step(ctx.engine.now())).await.unwrap();
    let job = take(&ctx, "w", 10).await;
    assert_eq!(job.len(), 2, "the old pending job and the recent one");
    let recent_job = job.iter().find(|j| j.id == recent).unwrap();
    let mut tx = ctx.db().begin().await.unwrap();
    jobs::complete(&mut tx.conn(), recent_job, ctx.engine.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let cutoff = ctx.engine.now() - Duration::days(90);
    assert_eq!(jobs::prune(ctx.db(), cutoff).await.unwrap(), 2_502);
    assert_eq!(state(ctx.db(), pending).await, JobState::Running);
    assert_eq!(state(ctx.db(), recent).await, JobState::Done);
    let left = ctx
        .db()
        .fetch_one("SELECT COUNT(*) AS n FROM flow_jobs", vec![])
        .await
        .unwrap()
        .req_int("n")
        .unwrap();
    assert_eq!(left, 2);
    assert_eq!(jobs::prune(ctx.db(), cutoff).await.unwrap(), 0);
}

async fn concurrent_takers_never_share_a_job(backend: Backend) {
    let ctx = open(backend).await;
    let now = ctx.engine.now();
    const JOBS: usize = 2_000;
    let mut tx = ctx.db().begin().await.unwrap();
    for n in 0..JOBS {
        // Many share a due time, so takers race for the same rows.
        jobs::enqueue(
            &mut tx.conn(),
            step(now - Duration::seconds((n % 7) as i64)),
            now,
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();

    // On PostgreSQL each taker has its own pool, as separate instances would; on SQLite they
    // are tasks of one process, sharing its writers' queue.
    let completions: Arc<std::sync::Mutex<HashMap<Uuid, Vec<String>>>> = Arc::default();
    let mut takers = Vec::new();
    for t in 0..4 {
        let db = match backend {
            Backend::Sqlite => ctx.db().clone(),
            Backend::Postgres => connect(&ctx.fresh.url).await,
        };
        let completions = Arc::clone(&completions);
        takers.push(tokio::spawn(async move {
            let owner = format!("taker-{t}");
            let mut mine = 0;
            loop {
                let batch = jobs::take_due(&db, &owner, now, 25, LEASE).await.unwrap();
                if batch.is_empty() {
                    break;
                }
                let mut tx = db.begin().await.unwrap();
                for job in &batch {
                    assert_eq!(job.attempts, 1, "a job taken twice");
                    jobs::complete(&mut tx.conn(), job, now).await.unwrap();
                }
                tx.commit().await.unwrap();
                let mut done = completions.lock().unwrap();
                for job in &batch {
                    done.entry(job.id).or_default().push(owner.clone());
                }
                mine += batch.len();
            }
            mine
        }));
    }
    let mut per_taker = Vec::new();
    for taker in takers {
        per_taker.push(taker.await.unwrap());
    }
    let completions = std::mem::take(&mut *completions.lock().unwrap());
    assert_eq!(completions.len(), JOBS);
    assert!(
        completions.values().all(|owners| owners.len() == 1),
        "every job completed exactly once"
    );
    assert_eq!(per_taker.iter().sum::<usize>(), JOBS);
    let done = ctx
        .db()
        .fetch_one(
            "SELECT COUNT(*) AS n FROM flow_jobs WHERE state = $1 AND attempts = 1",
            vec![Arg::Text(Some("done".into()))],
        )
        .await
        .unwrap()
        .req_int("n")
        .unwrap();
    assert_eq!(done, JOBS as i64);
}
