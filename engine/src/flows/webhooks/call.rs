//! The `webhook_call` node (docs/flows.md, section 2 and the guarantees of section 5).
//!
//! Every other node does its work inside the step's fenced transaction. A call cannot: it
//! waits up to 30 s on the network, and on SQLite an open write transaction would stop every
//! other writer meanwhile. So the request is built from a read of the run's scope, sent with
//! no transaction open (the job's lease extended while it waits), and only the outcome commits,
//! fenced on the lease like any step. A crash between the call and that commit repeats the
//! call; the `Idempotency-Key` (`<run>:<node>`, the same on every attempt) lets the receiver
//! apply it once.
//!
//! Retries are the job queue's: the job is made ready again after this node's own backoff
//! (10 s, 20 s, 40 s …, at most 1 h, ±20 %) until `retries` are spent, then the `error` edge
//! is taken (or the run fails).

use super::http::{self, Delivery, Outbound};
use super::signature;
use crate::crypto::Keyring;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::expr::{dynamic_to_json, Root};
use crate::flows::compiled::CompiledFlow;
use crate::flows::definition::{as_expr, NodeKind};
use crate::flows::nodes::{Done, Failure, Next, NodeRun};
use crate::flows::runs::{Traced, FINISHED};
use crate::flows::worker::{flow_principal, load_run, RecordRead, RunRow};
use crate::jobs::{self, LeasedJob};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use time::Duration;

const KIND: &str = "webhook_call";

/// `timeout_seconds` and `retries` when the node leaves them out.
const DEFAULT_TIMEOUT_SECONDS: i64 = 10;
const DEFAULT_RETRIES: i64 = 3;

/// The wait before the attempt after attempt `attempts` failed: 10 s doubling, at most an
/// hour, moved by `jitter` (in [-1, 1]) times 20 %, so receivers coming back from an outage
/// are not hit by every sender at the same second.
pub fn backoff(attempts: i64, jitter: f64) -> Duration {
    let doublings = attempts.clamp(1, 20) - 1;
    let base = (10_i64 << doublings).min(3_600) as f64;
    Duration::milliseconds((base * (1.0 + 0.2 * jitter.clamp(-1.0, 1.0)) * 1_000.0) as i64)
}

fn jitter() -> f64 {
    // A v4 UUID is 122 random bits from the OS; the first 32 are plenty here.
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let n = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    f64::from(n) / f64::from(u32::MAX) * 2.0 - 1.0
}

/// Whether `url` starts with one of the configured prefixes.
pub fn allowed(allow: &[String], url: &str) -> bool {
    allow.iter().any(|prefix| url.starts_with(prefix.as_str()))
}

/// A call built from its node and the run's scope.
pub(crate) struct Prepared {
    pub outbound: Outbound,
    /// The node's secret, opened; the signature is made at each attempt, with its time.
    pub secret: Option<String>,
    pub retries: i64,
    /// What the step keeps: the URL, and the body with what may be sensitive sealed.
    pub input: Traced,
    /// The request as a dry run reports it (sealed values shown as `***`).
    pub report: Value,
}

/// What is shown in place of a sealed value.
const SEALED_SHOWN: &str = "***";

fn unreachable_secret(node: &str) -> Failure {
    Failure {
        code: "secret_unreadable".into(),
        message: format!("节点 {node}：密钥无法解密 / the node's secret cannot be opened"),
        retryable: false,
    }
}

pub(crate) fn url_not_allowed(node: &str) -> Failure {
    Failure {
        code: "url_not_allowed".into(),
        message: format!(
            "节点 {node}：地址不在允许的 Webhook 地址列表中（flow_webhook_allow） / the URL is not among the allowed webhook prefixes (flow_webhook_allow)"
        ),
        retryable: false,
    }
}

/// An attempt's outcome: the answer of a 2xx, or why not (retryable or not, by the rules of
/// docs/flows.md: a network error, a timeout, 408, 429 and 5xx may pass).
fn judge(node: &str, delivery: Delivery) -> std::result::Result<(u16, Value), Failure> {
    match delivery {
        Delivery::Answered { status, body } if (200..300).contains(&status) => Ok((status, body)),
        Delivery::Answered { status, .. } => Err(Failure {
            code: "webhook_status".into(),
            message: format!(
                "节点 {node}：接收方答复 HTTP {status} / the receiver answered HTTP {status}"
            ),
            retryable: status == 408 || status == 429 || status >= 500,
        }),
        Delivery::TimedOut => Err(Failure {
            code: "webhook_timeout".into(),
            message: format!(
                "节点 {node}：接收方未在时限内答复 / the receiver did not answer in time"
            ),
            retryable: true,
        }),
        Delivery::Unreachable => Err(Failure {
            code: "webhook_unreachable".into(),
            message: format!("节点 {node}：无法连接接收方 / the receiver could not be reached"),
            retryable: true,
        }),
    }
}

impl NodeRun<'_> {
    /// Whether an expression's value may hold a sensitive one: it reads a sensitive field, the
    /// inbound body, an earlier call's answer, or a whole root.
    fn may_hold_sensitive(&self, source: &str) -> bool {
        if !crate::expr::whole_roots(source).is_empty() {
            return true;
        }
        crate::expr::reads(source)
            .iter()
            .any(|read| match read.root {
                Root::Body => true,
                Root::Steps => !matches!(read.then.as_deref(), Some("status" | "id" | "entity")),
                Root::Record | Root::Old => {
                    let Some(record) = &self.scope.record else {
                        return false;
                    };
                    let Some(field) = record.rt.definition().field(&read.name) else {
                        return false;
                    };
                    if field.is_sensitive() {
                        return true;
                    }
                    match (&read.then, self.scope.followed.get(&read.name)) {
                        (Some(then), Some(target)) => target
                            .rt
                            .definition()
                            .field(then)
                            .is_some_and(crate::forms::FieldDef::is_sensitive),
                        _ => false,
                    }
                }
            })
    }

    fn evaluated(&self, source: &str) -> std::result::Result<Value, Failure> {
        let value = self.eval(source)?;
        dynamic_to_json(&value).ok_or_else(|| Failure {
            code: "wrong_result_type".into(),
            message: format!(
                "节点 {}：请求内容无法转为 JSON / the body cannot be sent as JSON",
                self.node.id
            ),
            retryable: false,
        })
    }

    /// Builds the request: URL, body, key and secret. Nothing is sent.
    pub(crate) fn prepare_webhook(&self) -> std::result::Result<Prepared, Failure> {
        let NodeKind::WebhookCall {
            url,
            body,
            secret,
            timeout_seconds,
            retries,
            ..
        } = &self.node.kind
        else {
            return Err(Failure {
                code: "internal".into(),
                message: "not a webhook_call".into(),
                retryable: false,
            });
        };
        let node = self.node.id.as_str();
        let keys: &Keyring = &self.engine.keys;
        let mut input = Traced::default().plain("url", json!(url));
        let mut shown = Map::new();
        let payload = match body {
            None => {
                let record = self
                    .scope
                    .record
                    .as_ref()
                    .map_or(Value::Null, |r| json!({"entity": r.rt.name(), "id": r.id}));
                let payload = json!({"flow": self.flow.def.name, "run_id": self.run_id,
                                     "node": node, "record": record});
                input = input.plain("body", payload.clone());
                shown = payload.as_object().cloned().unwrap_or_default();
                payload
            }
            Some(whole) if as_expr(whole).is_some() => {
                let source = as_expr(whole).unwrap_or_default();
                let value = self.evaluated(source)?;
                if self.may_hold_sensitive(source) {
                    input = input.sealed("body", &value, keys);
                    shown.insert("$body".into(), json!(SEALED_SHOWN));
                } else {
                    input = input.plain("body", value.clone());
                    shown.insert("$body".into(), value.clone());
                }
                value
            }
            Some(Value::Object(slots)) => {
                let mut payload = Map::new();
                for (key, slot) in slots {
                    let path = format!("body.{key}");
                    let value = match as_expr(slot) {
                        Some(source) => {
                            let value = self.evaluated(source)?;
                            if self.may_hold_sensitive(source) {
                                input = input.sealed(&path, &value, keys);
                                shown.insert(key.clone(), json!(SEALED_SHOWN));
                            } else {
                                input = input.plain_at(&path, value.clone());
                                shown.insert(key.clone(), value.clone());
                            }
                            value
                        }
                        None => {
                            input = input.plain_at(&path, slot.clone());
                            shown.insert(key.clone(), slot.clone());
                            slot.clone()
                        }
                    };
                    payload.insert(key.clone(), value);
                }
                Value::Object(payload)
            }
            Some(_) => {
                return Err(Failure {
                    code: "wrong_result_type".into(),
                    message: format!("节点 {node}：请求内容须为对象 / the body must be an object"),
                    retryable: false,
                })
            }
        };
        let secret = match secret {
            None => None,
            Some(s) if Keyring::is_ciphertext(s) => {
                Some(keys.decrypt(s).map_err(|_| unreachable_secret(node))?)
            }
            // A draft checked for a dry run carries the secret as typed.
            Some(s) => Some(s.clone()),
        };
        let idempotency_key = format!("{}:{node}", self.run_id);
        let shown_body = match shown.remove("$body") {
            Some(whole) => whole,
            None => Value::Object(shown),
        };
        let mut headers =
            json!({"Content-Type": "application/json", "Idempotency-Key": idempotency_key});
        if secret.is_some() {
            headers[signature::HEADER] = json!("t=<unix seconds>,v1=<HMAC-SHA256>");
        }
        let report = json!({"method": "POST", "url": url, "headers": headers, "body": shown_body});
        let timeout = timeout_seconds
            .unwrap_or(DEFAULT_TIMEOUT_SECONDS)
            .clamp(1, 30);
        Ok(Prepared {
            outbound: Outbound {
                url: url.clone(),
                body: serde_json::to_vec(&payload).unwrap_or_default(),
                idempotency_key,
                signature: None,
                timeout: std::time::Duration::from_secs(timeout as u64),
            },
            secret,
            retries: retries.unwrap_or(DEFAULT_RETRIES).clamp(0, 10),
            input,
            report,
        })
    }

    /// A dry run's webhook_call: the request it would send, not sent; the path goes on as
    /// after a success.
    pub(crate) fn webhook_dry_run(&self) -> std::result::Result<Done, Failure> {
        let prepared = self.prepare_webhook()?;
        if !allowed(
            &self.engine.settings.flow_webhook_allow,
            &prepared.outbound.url,
        ) {
            return Err(url_not_allowed(&self.node.id));
        }
        Ok(Done {
            next: Next::Edge(None),
            input: prepared.input,
            output: Traced::default(),
            would: Some(prepared.report),
        })
    }
}

impl Engine {
    /// Runs a `webhook_call` step whose job `job` holds (see the module's note on why it is not
    /// run inside the step's transaction).
    pub(crate) async fn run_webhook_call(
        &self,
        mut job: LeasedJob,
        run: RunRow,
        flow: Arc<CompiledFlow>,
        node_id: &str,
    ) -> Result<()> {
        let node = flow
            .node(node_id)
            .ok_or_else(|| EngineError::internal("the webhook_call node vanished"))?;
        let prepared = {
            let entities = self.entity_map().await?;
            let principal = flow_principal(&flow, &entities, Some(run.id));
            let mut pooled = self.db.acquire().await?;
            let mut conn = pooled.conn();
            let mut scope = self
                .scope_for(&mut conn, &flow, &run, node, self.now(), RecordRead::Plain)
                .await?;
            NodeRun {
                engine: self,
                flow: &flow,
                node,
                run_id: run.id,
                principal: &principal,
                scope: &mut scope,
                dry: false,
            }
            .prepare_webhook()
        };
        let mut prepared = match prepared {
            Ok(p) => p,
            Err(failure) => return self.fail_run(&job, &run, node_id, KIND, &failure).await,
        };
        // Checked again here: the allow list may have shrunk since the flow was saved.
        if !allowed(&self.settings.flow_webhook_allow, &prepared.outbound.url) {
            return self
                .fail_run(&job, &run, node_id, KIND, &url_not_allowed(node_id))
                .await;
        }
        job.max_attempts = prepared.retries + 1;
        if let Some(secret) = &prepared.secret {
            prepared.outbound.signature = Some(signature::sign(
                secret,
                self.now().unix_timestamp(),
                &prepared.outbound.body,
            ));
        }
        let Some(delivery) = self
            .deliver_keeping_lease(&mut job, &prepared.outbound)
            .await
        else {
            // The lease was lost: another worker has the job; this attempt commits nothing.
            return Ok(());
        };
        match judge(node_id, delivery) {
            Ok((status, answer)) => {
                self.finish_webhook_call(&job, &run, &flow, node_id, prepared.input, status, answer)
                    .await
            }
            Err(failure) if failure.retryable && job.attempts < job.max_attempts => {
                self.retry_webhook_call(&job, &run, node_id, &failure).await
            }
            Err(mut failure) => {
                failure.retryable = false;
                self.fail_run(&job, &run, node_id, KIND, &failure).await
            }
        }
    }

    /// Sends while extending the job's lease every [`jobs::EXTEND_EVERY`]; `None` when the
    /// lease was lost meanwhile (the call is abandoned: its outcome could not commit).
    async fn deliver_keeping_lease(
        &self,
        job: &mut LeasedJob,
        outbound: &Outbound,
    ) -> Option<Delivery> {
        let send = http::post(outbound);
        tokio::pin!(send);
        let every = std::time::Duration::from_secs(jobs::EXTEND_EVERY.whole_seconds() as u64);
        loop {
            tokio::select! {
                delivery = &mut send => return Some(delivery),
                _ = tokio::time::sleep(every) => {
                    match jobs::extend_lease(&self.db, job, self.now(), jobs::LEASE).await {
                        Err(EngineError::LeaseLost { .. }) => return None,
                        Err(e) => tracing::warn!(error = %e, "extending a webhook call's lease failed"),
                        Ok(()) => {}
                    }
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish_webhook_call(
        &self,
        job: &LeasedJob,
        run: &RunRow,
        flow: &CompiledFlow,
        node: &str,
        input: Traced,
        status: u16,
        answer: Value,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        match jobs::complete(&mut conn, job, now).await {
            Err(EngineError::LeaseLost { .. }) => return Ok(()),
            other => other?,
        }
        let Some(run) = load_run(&mut conn, run.id).await? else {
            return tx.commit().await;
        };
        if FINISHED.contains(&run.status.as_str()) {
            return tx.commit().await;
        }
        // The answer may carry patient data (an HIS lookup): kept sealed, shown as `***`.
        let output = Traced::default()
            .plain("status", json!(status))
            .sealed("body", &answer, &self.keys);
        self.record_step(
            &mut conn,
            &run,
            node,
            KIND,
            "succeeded",
            job.attempts,
            input.into_stored(),
            output.into_stored(),
            Value::Null,
            now,
        )
        .await?;
        let done = Done {
            next: Next::Edge(None),
            input: Traced::default(),
            output: Traced::default(),
            would: None,
        };
        self.after_node(&mut conn, flow, &run, node, &done, now)
            .await?;
        tx.commit().await?;
        self.wake_flow_worker();
        Ok(())
    }

    /// A retryable failure: its job is ready again after the call's own backoff, or, out of
    /// attempts, the `error` edge is taken or the run fails.
    async fn retry_webhook_call(
        &self,
        job: &LeasedJob,
        run: &RunRow,
        node: &str,
        failure: &Failure,
    ) -> Result<()> {
        let mut retryable = failure.clone();
        retryable.retryable = true;
        let wait = backoff(job.attempts, jitter());
        self.fail_run_after(job, run, node, KIND, &retryable, wait)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_ten_seconds_doubling_up_to_an_hour() {
        let waits: Vec<i64> = (1..=11).map(|n| backoff(n, 0.0).whole_seconds()).collect();
        assert_eq!(
            waits,
            vec![10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
        assert_eq!(backoff(1, 1.0).whole_milliseconds(), 12_000);
        assert_eq!(backoff(1, -1.0).whole_milliseconds(), 8_000);
        for _ in 0..100 {
            let j = jitter();
            assert!((-1.0..=1.0).contains(&j), "{j}");
        }
    }

    #[test]
    fn only_network_errors_timeouts_408_429_and_5xx_are_retried() {
        let answered = |status| Delivery::Answered {
            status,
            body: Value::Null,
        };
        assert_eq!(judge("n", answered(204)).map(|(s, _)| s).ok(), Some(204));
        for status in [408, 429, 500, 502, 503] {
            assert!(
                judge("n", answered(status)).unwrap_err().retryable,
                "{status}"
            );
        }
        for status in [301, 302, 400, 401, 404, 409, 422] {
            assert!(
                !judge("n", answered(status)).unwrap_err().retryable,
                "{status}"
            );
        }
        assert!(judge("n", Delivery::TimedOut).unwrap_err().retryable);
        assert!(judge("n", Delivery::Unreachable).unwrap_err().retryable);
    }

    #[test]
    fn urls_are_allowed_by_prefix_only() {
        let allow = vec!["https://his.example/hooks/".to_string()];
        assert!(allowed(&allow, "https://his.example/hooks/admit"));
        assert!(!allowed(&allow, "https://his.example.evil/hooks/admit"));
        assert!(!allowed(&allow, "http://his.example/hooks/admit"));
        assert!(!allowed(&[], "https://his.example/hooks/admit"));
    }
}
