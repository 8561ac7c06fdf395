//! Account actions as the engine answers them: for users, roles and API tokens, each method
//! takes the acting [`Principal`], checks what they may do, makes the change and appends its
//! audit entry in one transaction. The server only parses, calls and shapes the answer.

use crate::access::audit::{self, AuditEntry, AuditFilter, AuditRecord};
use crate::access::grants::{
    require_admin_for_admins, require_departments_held, require_holds, require_not_own_role,
};
use crate::access::principal::{Principal, Role, SystemRight};
use crate::access::principal_cache::{CachedPrincipal, CallerKey};
use crate::access::roles;
use crate::access::sessions::SessionTable;
use crate::access::tokens::{self, TokenInfo};
use crate::access::users::{self, NewUser, User, UserUpdate};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::store::Tx;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

/// The precondition of a change to a versioned definition: the version the caller read, from
/// `If-Match` or the body; none means "as it stands".
fn check_version(expected: Option<i64>, current: i64) -> Result<()> {
    match expected {
        Some(v) if v != current => Err(EngineError::VersionConflict { current }),
        _ => Ok(()),
    }
}

fn last_admin() -> EngineError {
    EngineError::Conflict(
        "至少须保留一名启用的管理员 / The last active administrator cannot be demoted, disabled or deleted"
            .into(),
    )
}

async fn audit_in(
    tx: &mut Tx,
    engine: &Engine,
    by: &Principal,
    action: &str,
    target: &str,
) -> Result<()> {
    let entry = AuditEntry::new(by.actor.clone(), action).detail(json!({ "target": target }));
    audit::append(&mut tx.conn(), engine.clock.as_ref(), &entry).await?;
    Ok(())
}

/// Whether `user` holds the role `name`.
fn holds_role(user: Option<&User>, name: &str) -> bool {
    user.is_some_and(|u| u.roles.iter().any(|r| r == name))
}

impl Engine {
    /// The table browser sessions are kept in.
    pub fn session_table(&self) -> SessionTable {
        SessionTable::new(self.db.clone())
    }

    /// The principal of a browser session made at credentials epoch `epoch`: a password
    /// changed since then, or a disabled or deleted user, ends it (`Unauthenticated`). A
    /// principal loaded in the last second may be reused (`principal_cache`).
    pub async fn session_principal(&self, user_id: Uuid, epoch: Option<i64>) -> Result<Principal> {
        let key = CallerKey::User(user_id);
        let principal = match self.principals.get(&key) {
            Some(cached) => cached.principal,
            None => {
                let generation = self.principals.generation();
                let principal = users::load_principal(&self.db, user_id).await?;
                let cached = CachedPrincipal {
                    principal: principal.clone(),
                    expires_at: None,
                };
                self.principals.put(key, generation, cached);
                principal
            }
        };
        if epoch != Some(principal.credentials_epoch) {
            return Err(EngineError::Unauthenticated);
        }
        Ok(principal)
    }

    /// The principal a bearer token acts as. A principal loaded in the last second may be
    /// reused (`principal_cache`); the token's expiry is checked on every use.
    pub async fn token_principal(&self, plaintext: &str) -> Result<Principal> {
        if !tokens::well_formed(plaintext) {
            return Err(EngineError::Unauthenticated);
        }
        let key = CallerKey::Token(tokens::token_hash(plaintext));
        let cached = match self.principals.get(&key) {
            Some(cached) => cached,
            None => {
                let generation = self.principals.generation();
                let (principal, expires_at) =
                    tokens::authenticate_token(&self.db, self.clock.as_ref(), plaintext).await?;
                let cached = CachedPrincipal {
                    principal,
                    expires_at,
                };
                self.principals.put(key, generation, cached.clone());
                cached
            }
        };
        if cached.expires_at.is_some_and(|t| t <= self.clock.now()) {
            return Err(EngineError::Unauthenticated);
        }
        Ok(cached.principal)
    }

    /// The user's credentials epoch now (after their own password change, the session that
    /// made it carries on with it).
    pub async fn credentials_epoch(&self, user_id: Uuid) -> Result<i64> {
        users::credentials_epoch(&self.db, user_id).await
    }

    pub async fn list_users(
        &self,
        by: &Principal,
        page: u32,
        per_page: u32,
    ) -> Result<(Vec<User>, i64)> {
        by.require_right(SystemRight::Users)?;
        users::list_users(&self.db, page, per_page).await
    }

    /// A user; anyone may read themselves.
    pub async fn get_user(&self, by: &Principal, id: Uuid) -> Result<User> {
        if by.user_id != Some(id) {
            by.require_right(SystemRight::Users)?;
        }
        users::get_user(&self.db, id).await
    }

    /// Creates a user. Only administrators make administrators; every role given must be one
    /// the caller holds all of.
    pub async fn create_user(&self, by: &Principal, new: NewUser) -> Result<User> {
        by.require_right(SystemRight::Users)?;
        require_admin_for_admins(by, new.is_admin)?;
        let prepared = users::prepare_user(new).await?;
        require_departments_held(by, &[], &prepared.departments)?;
        let username = prepared_username(&prepared);
        let mut tx = self.db.begin().await?;
        self.require_holds_roles(&mut tx, by, &prepared.roles)
            .await?;
        let user = users::insert_user(&mut tx, self.clock.as_ref(), prepared).await?;
        audit_in(&mut tx, self, by, "user.create", &user.id.to_string()).await?;
        users::commit_user(tx, &username).await?;
        Ok(user)
    }

    /// Changes a user. Only administrators touch administrators; the caller must hold every
    /// role the user has and every role given; the last active administrator stays one.
    /// `expected` (If-Match) or the body's `version` is the precondition.
    pub async fn update_user(
        &self,
        by: &Principal,
        id: Uuid,
        update: UserUpdate,
        expected: Option<i64>,
    ) -> Result<User> {
        by.require_right(SystemRight::Users)?;
        let update = users::prepare_update(update).await?;
        let mut tx = self.db.begin().await?;
        let current = users::user_in(&mut tx.conn(), id)
            .await?
            .ok_or_else(|| EngineError::not_found(format!("user {id}")))?;
        check_version(expected.or(update.version), current.version)?;
        let admin_changes = update.is_admin.is_some_and(|a| a != current.is_admin);
        require_admin_for_admins(by, current.is_admin || admin_changes)?;
        self.require_holds_roles(&mut tx, by, &current.roles)
            .await?;
        if let Some(roles) = &update.roles {
            self.require_holds_roles(&mut tx, by, roles).await?;
        }
        if let Some(departments) = &update.departments {
            require_departments_held(by, &current.departments, departments)?;
        }
        let stays_active_admin = update.is_admin.unwrap_or(current.is_admin)
            && !update.disabled.unwrap_or(current.disabled);
        if current.is_admin
            && !current.disabled
            && !stays_active_admin
            && users::other_active_admins(&mut tx, id).await? == 0
        {
            return Err(last_admin());
        }
        let changes_password = update.changes_password();
        let user = users::apply_update(&mut tx, self.clock.as_ref(), &current, update).await?;
        if user.version != current.version || changes_password {
            audit_in(&mut tx, self, by, "user.update", &id.to_string()).await?;
        }
        tx.commit().await?;
        self.principals.forget_all();
        Ok(user)
    }

    /// Deletes a user, under the rules of [`Engine::update_user`]; nobody deletes themselves.
    pub async fn delete_user(&self, by: &Principal, id: Uuid, expected: Option<i64>) -> Result<()> {
        by.require_right(SystemRight::Users)?;
        if by.user_id == Some(id) {
            return Err(EngineError::bad_request(
                "不能删除自己 / You cannot delete yourself",
            ));
        }
        let mut tx = self.db.begin().await?;
        let current = users::user_in(&mut tx.conn(), id)
            .await?
            .ok_or_else(|| EngineError::not_found(format!("user {id}")))?;
        check_version(expected, current.version)?;
        require_admin_for_admins(by, current.is_admin)?;
        self.require_holds_roles(&mut tx, by, &current.roles)
            .await?;
        if current.is_admin
            && !current.disabled
            && users::other_active_admins(&mut tx, id).await? == 0
        {
            return Err(last_admin());
        }
        users::remove_user(&mut tx, id).await?;
        audit_in(&mut tx, self, by, "user.delete", &id.to_string()).await?;
        tx.commit().await?;
        self.principals.forget_all();
        Ok(())
    }

    pub async fn list_roles(&self, by: &Principal) -> Result<Vec<Role>> {
        by.require_right(SystemRight::Roles)?;
        roles::list_roles(&self.db).await
    }

    pub async fn get_role(&self, by: &Principal, name: &str) -> Result<Role> {
        by.require_right(SystemRight::Roles)?;
        roles::get_role(&self.db, name).await
    }

    /// Creates a role granting nothing the caller does not hold, on entities that exist.
    pub async fn create_role(&self, by: &Principal, role: &Role) -> Result<Role> {
        by.require_right(SystemRight::Roles)?;
        require_holds(by, role)?;
        let mut tx = self.db.begin().await?;
        roles::check_entities_exist(&mut tx.conn(), role).await?;
        let role = roles::insert_role(&mut tx, self.clock.as_ref(), role).await?;
        audit_in(&mut tx, self, by, "role.create", role.name.as_str()).await?;
        tx.commit().await?;
        Ok(role)
    }

    /// Replaces a role (PUT). Nobody but an administrator edits a role they hold; what the
    /// role granted and what it will grant must both be the caller's. `expected` (If-Match)
    /// or the body's `version` is the precondition; an unchanged role keeps its version.
    pub async fn replace_role(
        &self,
        by: &Principal,
        name: &str,
        role: &Role,
        expected: Option<i64>,
    ) -> Result<Role> {
        by.require_right(SystemRight::Roles)?;
        roles::check_same_name(name, role)?;
        let mut tx = self.db.begin().await?;
        let current = roles::role_in(&mut tx.conn(), name)
            .await?
            .ok_or_else(|| EngineError::not_found(format!("role {name}")))?;
        check_version(expected.or(role.version), current.version.unwrap_or(1))?;
        self.require_not_holding(&mut tx, by, name).await?;
        require_holds(by, &current)?;
        require_holds(by, role)?;
        roles::check_entities_exist(&mut tx.conn(), role).await?;
        let stored = roles::replace_role(&mut tx, self.clock.as_ref(), &current, role).await?;
        if stored.version != current.version {
            audit_in(&mut tx, self, by, "role.update", name).await?;
        }
        tx.commit().await?;
        self.principals.forget_all();
        Ok(stored)
    }

    /// Deletes a role under the rules of [`Engine::replace_role`].
    pub async fn delete_role(
        &self,
        by: &Principal,
        name: &str,
        expected: Option<i64>,
    ) -> Result<()> {
        by.require_right(SystemRight::Roles)?;
        let mut tx = self.db.begin().await?;
        let current = roles::role_in(&mut tx.conn(), name)
            .await?
            .ok_or_else(|| EngineError::not_found(format!("role {name}")))?;
        check_version(expected, current.version.unwrap_or(1))?;
        self.require_not_holding(&mut tx, by, name).await?;
        require_holds(by, &current)?;
        roles::remove_role(&mut tx, name).await?;
        audit_in(&mut tx, self, by, "role.delete", name).await?;
        tx.commit().await?;
        self.principals.forget_all();
        Ok(())
    }

    /// The caller's own API tokens.
    pub async fn list_tokens(&self, by: &Principal) -> Result<Vec<TokenInfo>> {
        let user_id = by.user_id.ok_or(EngineError::Unauthenticated)?;
        tokens::list_tokens(&self.db, user_id).await
    }

    /// Creates an API token for the caller; returns it with its plaintext, shown once. A
    /// token cannot mint tokens; the expiry is at most `token_max_days` away (the default).
    pub async fn create_token(
        &self,
        by: &Principal,
        name: &str,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<(TokenInfo, String)> {
        let user_id = by.user_id.ok_or(EngineError::Unauthenticated)?;
        if by.by_token {
            return Err(EngineError::Forbidden(
                "an API token cannot create tokens; log in / API 令牌不能创建令牌".into(),
            ));
        }
        let expires_at =
            tokens::bounded_expiry(self.clock.now(), expires_at, self.settings.token_max_days)?;
        let mut tx = self.db.begin().await?;
        let (info, plaintext) = tokens::insert_token(
            &mut tx.conn(),
            self.clock.as_ref(),
            user_id,
            name,
            Some(expires_at),
        )
        .await?;
        audit_in(&mut tx, self, by, "token.create", &info.id.to_string()).await?;
        tx.commit().await?;
        Ok((info, plaintext))
    }

    /// Revokes a token: one's own, or anyone's with the `users` right.
    pub async fn revoke_token(&self, by: &Principal, id: Uuid) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let token = tokens::token_in(&mut tx.conn(), id).await?;
        if by.user_id != Some(token.user_id) {
            by.require_right(SystemRight::Users)?;
        }
        tokens::revoke_in(&mut tx.conn(), self.clock.as_ref(), id).await?;
        audit_in(&mut tx, self, by, "token.revoke", &id.to_string()).await?;
        tx.commit().await?;
        self.principals.forget_all();
        Ok(())
    }

    pub async fn list_audit(
        &self,
        by: &Principal,
        filter: &AuditFilter,
        page: u32,
        per_page: u32,
    ) -> Result<(Vec<AuditRecord>, i64)> {
        by.require_right(SystemRight::Audit)?;
        audit::list(&self.db, filter, page, per_page).await
    }

    async fn require_holds_roles(
        &self,
        tx: &mut Tx,
        by: &Principal,
        names: &[String],
    ) -> Result<()> {
        if by.is_admin {
            return Ok(());
        }
        for role in roles::roles_named(&mut tx.conn(), names)
            .await
            .map_err(|e| match e {
                EngineError::NotFound { what } => {
                    EngineError::bad_request(format!("角色不存在：{what} / Unknown {what}"))
                }
                other => other,
            })?
        {
            require_holds(by, &role)?;
        }
        Ok(())
    }

    async fn require_not_holding(&self, tx: &mut Tx, by: &Principal, name: &str) -> Result<()> {
        let me = match by.user_id {
            Some(id) => users::user_in(&mut tx.conn(), id).await?,
            None => None,
        };
        require_not_own_role(by, holds_role(me.as_ref(), name), name)
    }
}

fn prepared_username(p: &users::PreparedUser) -> String {
    p.username().to_string()
}
