//! Access: users, roles, API tokens, log-in throttling and the audit log.

pub mod audit;
pub mod login;
pub mod paging;
pub mod passwords;
pub mod principal;
pub mod roles;
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
