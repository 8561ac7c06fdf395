//! Webhooks both ways (docs/flows.md): the `webhook` trigger, a signed inbound request that
//! starts a run (`inbound`), and the `webhook_call` node, a signed outbound POST retried on the
//! job queue (`call`, with the HTTP itself in `http`). Both sign with `signature`.

pub(crate) mod call;
mod http;
pub mod inbound;
pub mod signature;

pub use inbound::{InboundWebhook, Received, MAX_BODY_BYTES};
