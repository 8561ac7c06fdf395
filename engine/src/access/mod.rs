//! Access: users, roles, API tokens, sessions, log-in throttling and the audit log.
//! `principal` says who acts and what their roles let them do; `grants` what they may give;
//! `accounts` the engine's account actions (check, change and audit in one transaction) over
//! the storage of `users`, `roles`, `tokens` and `sessions`.

pub mod accounts;
pub mod audit;
pub mod grants;
pub mod login;
pub mod paging;
pub mod passwords;
pub mod principal;
pub mod principal_cache;
pub mod roles;
pub mod sessions;
pub mod throttle;
pub mod tokens;
pub mod users;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

pub use audit::{AuditEntry, AuditFilter, AuditRecord};
pub use login::{login, AuthProvider, LocalPasswords};
pub use principal::{Action, EntityPermission, FieldRule, Principal, Role, RowScope, SystemRight};
pub use throttle::ThrottleKey;
pub use tokens::TokenInfo;
pub use users::{NewUser, User, UserUpdate};
