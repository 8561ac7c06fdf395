//! The `webhook` trigger: `POST /api/v1/hooks/{flow}` starts a run (docs/flows.md, section 2).
//! No session: the signature is the credential. An unknown or disabled flow, a bad signature
//! and a stale time all answer the same 401, so a caller without the secret learns nothing,
//! not even whether the flow exists.

use super::signature::Signature;
use crate::access::AuditEntry;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::flows::definition::Trigger;
use crate::store::{Arg, Conn};
use serde_json::{json, Value};
use time::Duration;
use uuid::Uuid;

/// The largest body accepted (the server refuses larger ones with 413 before reading them).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// `window_seconds` when the trigger leaves it out.
const DEFAULT_WINDOW_SECONDS: i64 = 300;

/// The longest `Idempotency-Key` kept.
const MAX_KEY_CHARS: usize = 200;

/// An inbound request as the server read it; the body is the raw bytes the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct InboundWebhook<'a> {
    pub flow: &'a str,
    pub signature: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    pub body: &'a [u8],
}

/// What an accepted webhook did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub run_id: Uuid,
    /// False when the `Idempotency-Key` named an earlier run, which is answered again.
    pub started: bool,
}

fn replayed() -> EngineError {
    EngineError::Conflict(
        "该签名已使用过（重放） / this signature has been used already (replay)".into(),
    )
}

impl Engine {
    /// Checks a signed inbound webhook and starts its flow's run.
    pub async fn receive_webhook(&self, hook: InboundWebhook<'_>) -> Result<Received> {
        let refused = || EngineError::Unauthenticated;
        let row = self
            .db
            .fetch_optional(
                "SELECT version, enabled FROM flows WHERE name = $1 AND deleted_at IS NULL",
                vec![Arg::from(hook.flow)],
            )
            .await?
            .ok_or_else(refused)?;
        if !row.bool("enabled")?.unwrap_or(false) {
            return Err(refused());
        }
        let flow = self
            .compiled_flow(hook.flow, row.req_int("version")?)
            .await?;
        let Trigger::Webhook {
            secret: Some(sealed),
            window_seconds,
            ..
        } = &flow.def.trigger
        else {
            return Err(refused());
        };
        let secret = self.keys.decrypt(sealed).map_err(|_| {
            tracing::warn!(flow = hook.flow, "a webhook flow's secret cannot be opened");
            refused()
        })?;
        let signature = hook
            .signature
            .and_then(Signature::parse)
            .ok_or_else(refused)?;
        if !signature.verifies(&secret, hook.body) {
            return Err(refused());
        }
        let window = window_seconds.unwrap_or(DEFAULT_WINDOW_SECONDS);
        let now = self.now();
        if (now.unix_timestamp() - signature.t).abs() > window {
            return Err(refused());
        }
        let key = match hook.idempotency_key.map(str::trim) {
            Some(k) if k.is_empty() || k.chars().count() > MAX_KEY_CHARS => {
                return Err(EngineError::bad_request(format!(
                    "Idempotency-Key 须为 1 至 {MAX_KEY_CHARS} 个字符 / Idempotency-Key must be 1 to {MAX_KEY_CHARS} characters"
                )))
            }
            other => other,
        };
        // A sender's retry of a request that started a run answers that run again; this comes
        // before the replay check, so a retry carrying the same signature is not a replay.
        if let Some(key) = key {
            if let Some(run_id) = self.run_of_key(hook.flow, key).await? {
                return Ok(Received {
                    run_id,
                    started: false,
                });
            }
        }
        let body: Value = serde_json::from_slice(hook.body)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| {
                EngineError::bad_request("请求内容须为 JSON 对象 / the body must be a JSON object")
            })?;
        let run_id = Uuid::now_v7();
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        let fresh = conn
            .execute(
                "INSERT INTO webhook_replays (flow, signature, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (flow, signature) DO NOTHING",
                vec![
                    Arg::from(hook.flow),
                    Arg::from(signature.v1.as_str()),
                    Arg::from(now + Duration::seconds(2 * window)),
                ],
            )
            .await?;
        if fresh == 0 {
            return Err(replayed());
        }
        let started = self
            .insert_webhook_run(&mut conn, &flow, run_id, &body, key, signature.t, now)
            .await?;
        if !started {
            // Another request with the same key won the race: answer its run.
            drop(tx);
            let first = match key {
                Some(key) => self.run_of_key(hook.flow, key).await?,
                None => None,
            };
            return first
                .map(|run_id| Received {
                    run_id,
                    started: false,
                })
                .ok_or_else(replayed);
        }
        crate::flows::worker::enqueue_start(&mut conn, &flow, run_id, now).await?;
        // What came in from outside and what it started, beside every other write's entry;
        // the body itself stays sealed in the run.
        crate::access::audit::append(
            &mut conn,
            self.clock.as_ref(),
            &AuditEntry::new(format!("webhook:{}", hook.flow), "flow.webhook").detail(
                json!({"flow": hook.flow, "run_id": run_id, "signed_at": signature.t,
                               "bytes": hook.body.len()}),
            ),
        )
        .await?;
        tx.commit().await?;
        self.wake_flow_worker();
        Ok(Received {
            run_id,
            started: true,
        })
    }

    async fn run_of_key(&self, flow: &str, key: &str) -> Result<Option<Uuid>> {
        self.db
            .fetch_optional(
                "SELECT id FROM flow_runs WHERE flow = $1 AND webhook_key = $2",
                vec![Arg::from(flow), Arg::from(key)],
            )
            .await?
            .map(|r| r.req_uuid("id"))
            .transpose()
    }

    #[allow(clippy::too_many_arguments)]
    async fn insert_webhook_run(
        &self,
        conn: &mut Conn<'_>,
        flow: &crate::flows::CompiledFlow,
        run_id: Uuid,
        body: &Value,
        key: Option<&str>,
        signed_at: i64,
        now: time::OffsetDateTime,
    ) -> Result<bool> {
        let trigger = json!({"type": "webhook", "signed_at": signed_at});
        let inserted = conn
            .execute(
                "INSERT INTO flow_runs (id, flow, flow_version, status, depth, trigger_info, started_by, \
                 webhook_body, webhook_key, created_at, updated_at) \
                 VALUES ($1, $2, $3, 'running', 0, $4, 'webhook', $5, $6, $7, $7) ON CONFLICT DO NOTHING",
                vec![
                    Arg::from(run_id),
                    Arg::from(flow.def.name.as_str()),
                    Arg::from(flow.version),
                    Arg::Json(Some(trigger)),
                    Arg::from(self.keys.encrypt(&body.to_string()).as_str()),
                    Arg::Text(key.map(str::to_string)),
                    Arg::from(now),
                ],
            )
            .await?;
        Ok(inserted == 1)
    }

    /// The body a webhook run was started with, opened, for `body` in its steps' scope.
    pub(crate) async fn webhook_body(&self, conn: &mut Conn<'_>, run: Uuid) -> Result<Value> {
        let sealed = conn
            .fetch_optional(
                "SELECT webhook_body FROM flow_runs WHERE id = $1",
                vec![Arg::from(run)],
            )
            .await?
            .map(|r| r.text("webhook_body"))
            .transpose()?
            .flatten();
        let Some(sealed) = sealed else {
            return Ok(json!({}));
        };
        let plain = self.keys.decrypt(&sealed)?;
        serde_json::from_str(&plain)
            .map_err(|_| EngineError::internal("a webhook run's stored body is unreadable"))
    }

    /// Drops replay records past their window (the retention prune).
    pub(crate) async fn prune_webhook_replays(&self) -> Result<u64> {
        self.db
            .execute(
                "DELETE FROM webhook_replays WHERE expires_at < $1",
                vec![Arg::from(self.now())],
            )
            .await
    }
}
