//! Access: users, roles, API tokens, log-in throttling and the audit log.

pub mod audit;
pub mod principal;

pub use principal::{Action, EntityPermission, FieldRule, Principal, Role, RowScope, SystemRight};
