//! Log-in: throttling, an authentication provider, and an audit entry either way.

use crate::access::audit::{self, AuditEntry};
use crate::access::passwords::{verify_password_blocking, MAX_PASSWORD_CHARS};
use crate::access::principal::Principal;
use crate::access::throttle::{self, ThrottleKey};
use crate::access::users::{check_username, load_principal};
use crate::clock::Clock;
use crate::error::{EngineError, Result};
use crate::store::Db;
use serde_json::json;
use std::future::Future;
use std::pin::Pin;
use uuid::Uuid;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Who checks a user name and password. Local passwords come first; LDAP/AD, CAS/OIDC and
/// WeCom providers come later. A provider answers the local user's id, or `None` when the
/// credentials do not hold (or the user is disabled); errors are for the provider failing.
pub trait AuthProvider: Send + Sync {
    fn authenticate<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<Option<Uuid>>>;
}

/// Passwords hashed in the `users` table.
#[derive(Debug, Clone)]
pub struct LocalPasswords {
    db: Db,
}

impl LocalPasswords {
    pub fn new(db: Db) -> LocalPasswords {
        LocalPasswords { db }
    }
}

impl AuthProvider for LocalPasswords {
    fn authenticate<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<Option<Uuid>>> {
        Box::pin(async move {
            let row = if check_username(username).is_ok()
                && password.chars().count() <= MAX_PASSWORD_CHARS
            {
                self.db
                    .fetch_optional(
                        "SELECT id, password_hash, disabled FROM users WHERE username = $1",
                        vec![username.into()],
                    )
                    .await?
            } else {
                None
            };
            let Some(row) = row else {
                // Spend the time a real check takes, so timing does not tell which names exist.
                verify_password_blocking(password, None).await?;
                return Ok(None);
            };
            let id = row.req_uuid("id")?;
            let hash = row.req_text("password_hash")?;
            let disabled = row.bool("disabled")?.unwrap_or(false);
            let matches = verify_password_blocking(password, Some(hash)).await?;
            Ok((matches && !disabled).then_some(id))
        })
    }
}

/// Logs a user in. Throttling is checked first (`RateLimited` while locked); a wrong password,
/// an unknown user and a disabled user all fail alike with `Unauthenticated`. Both outcomes
/// are audited (`login` / `login_failed`) with the user name and address, never the password.
pub async fn login(
    db: &Db,
    clock: &dyn Clock,
    provider: &dyn AuthProvider,
    username: &str,
    password: &str,
    client_ip: Option<&str>,
) -> Result<Principal> {
    let user_key = ThrottleKey::user(username);
    let mut keys = vec![user_key.clone()];
    if let Some(ip) = client_ip {
        keys.push(ThrottleKey::ip(ip));
    }
    throttle::check(db, clock, &keys).await?;

    let principal = match provider.authenticate(username, password).await? {
        // The provider vouched for the user; they must still exist and be enabled.
        Some(id) => match load_principal(db, id).await {
            Ok(p) => Some(p),
            Err(EngineError::Unauthenticated) => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    // The user name as typed may be anything: keep it short in the audit entry.
    let shown_name: String = username.chars().take(64).collect();
    match principal {
        Some(p) => {
            throttle::record_success(db, &[user_key]).await?;
            let mut conn = db.acquire().await?;
            audit::append(
                &mut conn.conn(),
                clock,
                &AuditEntry::new(p.actor.clone(), "login")
                    .detail(json!({ "username": p.username, "ip": client_ip })),
            )
            .await?;
            Ok(p)
        }
        None => {
            throttle::record_failure(db, clock, &keys).await?;
            let mut conn = db.acquire().await?;
            audit::append(
                &mut conn.conn(),
                clock,
                &AuditEntry::new("anonymous", "login_failed")
                    .detail(json!({ "username": shown_name, "ip": client_ip })),
            )
            .await?;
            Err(EngineError::Unauthenticated)
        }
    }
}
