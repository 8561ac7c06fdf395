//! Users: creation, lookup, update, deletion, and the [`Principal`] a user acts as. The
//! password hash never leaves this module's SQL.

use crate::access::paging::limit_offset;
use crate::access::passwords::{check_password_policy, hash_password_blocking};
use crate::access::principal::{EntityPermission, Principal, SystemRight};
use crate::clock::Clock;
use crate::error::{EngineError, FieldError, Result};
use crate::store::{Arg, Backend, Conn, Db, DbRow, Tx};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use time::OffsetDateTime;
use uuid::Uuid;

pub const MAX_USERNAME_CHARS: usize = 64;
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;
pub const MAX_DEPARTMENT_CHARS: usize = 64;

/// The body of `POST /api/v1/users`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub is_admin: bool,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub departments: Vec<String>,
}

// Hand-written so a password never reaches a log through `{:?}`.
impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("display_name", &self.display_name)
            .field("is_admin", &self.is_admin)
            .field("roles", &self.roles)
            .field("departments", &self.departments)
            .finish()
    }
}

/// The body of `PATCH /api/v1/users/{id}`: only the given parts change. `display_name: null`
/// clears the display name.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    #[serde(default, deserialize_with = "present")]
    pub display_name: Option<Option<String>>,
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    #[serde(default)]
    pub departments: Option<Vec<String>>,
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default)]
    pub is_admin: Option<bool>,
    /// A new password, subject to the policy. It ends the user's other sessions and all
    /// their API tokens.
    #[serde(default)]
    pub password: Option<String>,
    /// The version the change was made against (what GET answered); stale is a conflict.
    #[serde(default)]
    pub version: Option<i64>,
    /// Read-only parts of what GET answered, accepted back so a GET → edit → PATCH round trip
    /// works: `id` and `username` must be the user's own, the times are ignored.
    #[serde(default)]
    pub id: Option<Uuid>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub created_at: Option<Value>,
    #[serde(default)]
    pub updated_at: Option<Value>,
}

impl std::fmt::Debug for UserUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserUpdate")
            .field("display_name", &self.display_name)
            .field("roles", &self.roles)
            .field("departments", &self.departments)
            .field("disabled", &self.disabled)
            .field("is_admin", &self.is_admin)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("version", &self.version)
            .finish()
    }
}

/// Tells a present `null` (`Some(None)`) from an absent field (`None`).
fn present<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A user as the API shows it. It never carries the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub display_name: Option<String>,
    pub is_admin: bool,
    pub roles: Vec<String>,
    pub departments: Vec<String>,
    pub disabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Moves on with every change; the precondition of a PATCH or DELETE.
    pub version: i64,
}

fn bad_field(field: &str, code: &str, message: String) -> EngineError {
    EngineError::BadRequest {
        message: message.clone(),
        details: vec![FieldError::new(field, code, message)],
    }
}

/// User names are 1–64 characters of ASCII letters, digits, `.`, `_` and `-`.
pub fn check_username(username: &str) -> Result<()> {
    let ok = !username.is_empty()
        && username.len() <= MAX_USERNAME_CHARS
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(bad_field(
            "username",
            "invalid_username",
            format!(
                "用户名须为 1 到 {MAX_USERNAME_CHARS} 个字母、数字或 . _ - / \
                 User names are 1 to {MAX_USERNAME_CHARS} letters, digits, '.', '_' or '-'"
            ),
        ))
    }
}

fn check_display_name(name: Option<String>) -> Result<Option<String>> {
    let name = name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    if let Some(n) = &name {
        if n.chars().count() > MAX_DISPLAY_NAME_CHARS || n.chars().any(char::is_control) {
            return Err(bad_field(
                "display_name",
                "invalid_display_name",
                format!(
                    "显示名称最多 {MAX_DISPLAY_NAME_CHARS} 个字符，且不能含控制字符 / \
                     Display names are at most {MAX_DISPLAY_NAME_CHARS} characters without control characters"
                ),
            ));
        }
    }
    Ok(name)
}

/// Departments are option values: non-empty, short, no control characters; duplicates drop.
fn check_departments(departments: Vec<String>) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for d in departments {
        if d.is_empty()
            || d.chars().count() > MAX_DEPARTMENT_CHARS
            || d.chars().any(char::is_control)
        {
            return Err(bad_field(
                "departments",
                "invalid_department",
                format!(
                    "科室值须为 1 到 {MAX_DEPARTMENT_CHARS} 个字符 / \
                     Department values are 1 to {MAX_DEPARTMENT_CHARS} characters"
                ),
            ));
        }
        if !out.contains(&d) {
            out.push(d);
        }
    }
    Ok(out)
}

/// Every role must exist; duplicates drop.
async fn check_roles(tx: &mut Tx, roles: Vec<String>) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for role in roles {
        if out.contains(&role) {
            continue;
        }
        let found = tx
            .fetch_optional(
                "SELECT name FROM roles WHERE name = $1",
                vec![role.clone().into()],
            )
            .await?;
        if found.is_none() {
            return Err(bad_field(
                "roles",
                "unknown_role",
                format!("角色不存在：{role} / Unknown role: {role}"),
            ));
        }
        out.push(role);
    }
    Ok(out)
}

async fn set_roles(tx: &mut Tx, user_id: Uuid, roles: &[String]) -> Result<()> {
    tx.execute(
        "DELETE FROM user_roles WHERE user_id = $1",
        vec![user_id.into()],
    )
    .await?;
    for role in roles {
        tx.execute(
            "INSERT INTO user_roles (user_id, role) VALUES ($1, $2)",
            vec![user_id.into(), role.clone().into()],
        )
        .await?;
    }
    Ok(())
}

fn duplicate_username(username: &str) -> EngineError {
    EngineError::Conflict(format!(
        "用户名已存在：{username} / The user name {username} is already taken"
    ))
}

const USER_COLUMNS: &str =
    "id, username, display_name, is_admin, departments, disabled, created_at, updated_at, version";

fn user_from_row(row: &DbRow, roles: Vec<String>) -> Result<User> {
    let departments =
        serde_json::from_value(row.json("departments")?.unwrap_or(Value::Array(vec![])))
            .map_err(|e| EngineError::internal(format!("bad stored departments: {e}")))?;
    Ok(User {
        id: row.req_uuid("id")?,
        username: row.req_text("username")?,
        display_name: row.text("display_name")?,
        is_admin: row.bool("is_admin")?.unwrap_or(false),
        roles,
        departments,
        disabled: row.bool("disabled")?.unwrap_or(false),
        created_at: row.req_time("created_at")?,
        updated_at: row.req_time("updated_at")?,
        version: row.req_int("version")?,
    })
}

async fn roles_of(conn: &mut Conn<'_>, user_id: Uuid) -> Result<Vec<String>> {
    conn.fetch_all(
        "SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role",
        vec![user_id.into()],
    )
    .await?
    .iter()
    .map(|r| r.req_text("role"))
    .collect()
}

/// A new user, checked and with the password hashed, ready to insert.
pub(crate) struct PreparedUser {
    username: String,
    password_hash: String,
    display_name: Option<String>,
    pub(crate) is_admin: bool,
    pub(crate) roles: Vec<String>,
    pub(crate) departments: Vec<String>,
}

impl PreparedUser {
    pub(crate) fn username(&self) -> &str {
        &self.username
    }
}

/// Checks a new user's parts and hashes the password, before any transaction: argon2 is slow
/// on purpose.
pub(crate) async fn prepare_user(new: NewUser) -> Result<PreparedUser> {
    check_username(&new.username)?;
    check_password_policy(&new.password)?;
    let display_name = check_display_name(new.display_name)?;
    let departments = check_departments(new.departments)?;
    let password_hash = hash_password_blocking(&new.password).await?;
    Ok(PreparedUser {
        username: new.username,
        password_hash,
        display_name,
        is_admin: new.is_admin,
        roles: new.roles,
        departments,
    })
}

/// Inserts a prepared user in `tx`. A taken user name is a `Conflict`; an unknown role a
/// `BadRequest`.
pub(crate) async fn insert_user(tx: &mut Tx, clock: &dyn Clock, new: PreparedUser) -> Result<User> {
    let roles = check_roles(tx, new.roles).await?;
    let taken = tx
        .fetch_optional(
            "SELECT id FROM users WHERE username = $1",
            vec![new.username.clone().into()],
        )
        .await?;
    if taken.is_some() {
        return Err(duplicate_username(&new.username));
    }
    let id = Uuid::now_v7();
    let now = clock.now();
    let inserted = tx
        .execute(
            "INSERT INTO users (id, username, display_name, password_hash, is_admin, departments, disabled, created_at, updated_at, version, credentials_epoch) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, 0)",
            vec![
                id.into(),
                new.username.clone().into(),
                new.display_name.clone().into(),
                new.password_hash.into(),
                new.is_admin.into(),
                Arg::Json(Some(serde_json::json!(new.departments))),
                false.into(),
                now.into(),
                now.into(),
            ],
        )
        .await;
    match inserted {
        Err(e) if e.is_unique_violation() => return Err(duplicate_username(&new.username)),
        other => other?,
    };
    set_roles(tx, id, &roles).await?;
    let mut roles = roles;
    roles.sort();
    Ok(User {
        id,
        username: new.username,
        display_name: new.display_name,
        is_admin: new.is_admin,
        roles,
        departments: new.departments,
        disabled: false,
        created_at: now,
        updated_at: now,
        version: 1,
    })
}

/// Commits `tx`, a taken user name (a concurrent insert) becoming a `Conflict`.
pub(crate) async fn commit_user(tx: Tx, username: &str) -> Result<()> {
    match tx.commit().await {
        Err(e) if e.is_unique_violation() => Err(duplicate_username(username)),
        other => other,
    }
}

/// Creates a user as the platform itself (the command line, first start). A taken user name
/// is a `Conflict`; an unknown role a `BadRequest`.
pub async fn create_user(db: &Db, clock: &dyn Clock, new: NewUser) -> Result<User> {
    let prepared = prepare_user(new).await?;
    let username = prepared.username.clone();
    let mut tx = db.begin().await?;
    let user = insert_user(&mut tx, clock, prepared).await?;
    commit_user(tx, &username).await?;
    Ok(user)
}

/// The user `id` as seen inside `tx`, if any.
pub(crate) async fn user_in(conn: &mut Conn<'_>, id: Uuid) -> Result<Option<User>> {
    let Some(row) = conn
        .fetch_optional(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"),
            vec![id.into()],
        )
        .await?
    else {
        return Ok(None);
    };
    let roles = roles_of(conn, id).await?;
    Ok(Some(user_from_row(&row, roles)?))
}

pub async fn get_user(db: &Db, id: Uuid) -> Result<User> {
    user_in(&mut db.acquire().await?.conn(), id)
        .await?
        .ok_or_else(|| EngineError::not_found(format!("user {id}")))
}

/// The user with exactly this user name, if any.
pub async fn find_by_username(db: &Db, username: &str) -> Result<Option<User>> {
    let mut conn = db.acquire().await?;
    let Some(row) = conn
        .conn()
        .fetch_optional(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1"),
            vec![username.into()],
        )
        .await?
    else {
        return Ok(None);
    };
    let id = row.req_uuid("id")?;
    let roles = roles_of(&mut conn.conn(), id).await?;
    Ok(Some(user_from_row(&row, roles)?))
}

/// One page of users ordered by user name, and the number of all users.
pub async fn list_users(db: &Db, page: u32, per_page: u32) -> Result<(Vec<User>, i64)> {
    let total = count_users(db).await?;
    let (limit, offset) = limit_offset(page, per_page);
    let rows = db
        .fetch_all(
            &format!("SELECT {USER_COLUMNS} FROM users ORDER BY username LIMIT $1 OFFSET $2"),
            vec![limit.into(), offset.into()],
        )
        .await?;
    let role_rows = db
        .fetch_all(
            "SELECT user_id, role FROM user_roles WHERE user_id IN \
             (SELECT id FROM users ORDER BY username LIMIT $1 OFFSET $2) ORDER BY role",
            vec![limit.into(), offset.into()],
        )
        .await?;
    let mut roles: BTreeMap<Uuid, Vec<String>> = BTreeMap::new();
    for r in &role_rows {
        roles
            .entry(r.req_uuid("user_id")?)
            .or_default()
            .push(r.req_text("role")?);
    }
    let users = rows
        .iter()
        .map(|row| {
            let id = row.req_uuid("id")?;
            user_from_row(row, roles.remove(&id).unwrap_or_default())
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((users, total))
}

pub async fn count_users(db: &Db) -> Result<i64> {
    db.fetch_one("SELECT COUNT(*) AS n FROM users", vec![])
        .await?
        .req_int("n")
}

/// A change to a user, checked and with any new password hashed, ready to apply.
pub(crate) struct PreparedUpdate {
    display_name: Option<Option<String>>,
    pub(crate) roles: Option<Vec<String>>,
    pub(crate) departments: Option<Vec<String>>,
    pub(crate) disabled: Option<bool>,
    pub(crate) is_admin: Option<bool>,
    password_hash: Option<String>,
    pub(crate) version: Option<i64>,
    id: Option<Uuid>,
    username: Option<String>,
}

impl PreparedUpdate {
    pub(crate) fn changes_password(&self) -> bool {
        self.password_hash.is_some()
    }
}

pub(crate) async fn prepare_update(update: UserUpdate) -> Result<PreparedUpdate> {
    let password_hash = match &update.password {
        Some(p) => {
            check_password_policy(p)?;
            Some(hash_password_blocking(p).await?)
        }
        None => None,
    };
    Ok(PreparedUpdate {
        display_name: update.display_name.map(check_display_name).transpose()?,
        roles: update.roles,
        departments: update.departments.map(check_departments).transpose()?,
        disabled: update.disabled,
        is_admin: update.is_admin,
        password_hash,
        version: update.version,
        id: update.id,
        username: update.username,
    })
}

/// Applies `update` to `current` in `tx`; roles given replace the user's roles. A change that
/// changes nothing keeps the version. A new password moves the credentials epoch on (ending
/// the user's sessions) and revokes their API tokens.
pub(crate) async fn apply_update(
    tx: &mut Tx,
    clock: &dyn Clock,
    current: &User,
    update: PreparedUpdate,
) -> Result<User> {
    if update.id.is_some_and(|id| id != current.id) {
        return Err(bad_field(
            "id",
            "read_only",
            "用户 id 不可修改 / A user's id cannot be changed".into(),
        ));
    }
    if update
        .username
        .as_ref()
        .is_some_and(|u| *u != current.username)
    {
        return Err(bad_field(
            "username",
            "read_only",
            "用户名不可修改 / A user name cannot be changed".into(),
        ));
    }
    let mut next = current.clone();
    if let Some(roles) = update.roles {
        let mut roles = check_roles(tx, roles).await?;
        roles.sort();
        if roles != current.roles {
            set_roles(tx, current.id, &roles).await?;
        }
        next.roles = roles;
    }
    if let Some(name) = update.display_name {
        next.display_name = name;
    }
    if let Some(departments) = update.departments {
        next.departments = departments;
    }
    next.is_admin = update.is_admin.unwrap_or(current.is_admin);
    next.disabled = update.disabled.unwrap_or(current.disabled);
    if next == *current && update.password_hash.is_none() {
        return Ok(next);
    }
    let now = clock.now();
    let n = tx
        .execute(
            "UPDATE users SET display_name = $1, is_admin = $2, departments = $3, disabled = $4, \
             updated_at = $5, version = version + 1 WHERE id = $6 AND version = $7",
            vec![
                next.display_name.clone().into(),
                next.is_admin.into(),
                Arg::Json(Some(serde_json::json!(next.departments))),
                next.disabled.into(),
                now.into(),
                current.id.into(),
                current.version.into(),
            ],
        )
        .await?;
    if n == 0 {
        return Err(EngineError::VersionConflict {
            current: current.version + 1,
        });
    }
    if let Some(hash) = update.password_hash {
        tx.execute(
            "UPDATE users SET password_hash = $1, credentials_epoch = credentials_epoch + 1 \
             WHERE id = $2",
            vec![hash.into(), current.id.into()],
        )
        .await?;
        tx.execute(
            "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
            vec![now.into(), current.id.into()],
        )
        .await?;
    }
    next.updated_at = now;
    next.version = current.version + 1;
    Ok(next)
}

/// Changes the given parts of a user as the platform itself.
pub async fn update_user(db: &Db, clock: &dyn Clock, id: Uuid, update: UserUpdate) -> Result<User> {
    let update = prepare_update(update).await?;
    let mut tx = db.begin().await?;
    let current = user_in(&mut tx.conn(), id)
        .await?
        .ok_or_else(|| EngineError::not_found(format!("user {id}")))?;
    let user = apply_update(&mut tx, clock, &current, update).await?;
    tx.commit().await?;
    Ok(user)
}

/// Removes a user with their role grants and API tokens in `tx`. Audit entries naming them
/// stay.
pub(crate) async fn remove_user(tx: &mut Tx, id: Uuid) -> Result<()> {
    tx.execute("DELETE FROM user_roles WHERE user_id = $1", vec![id.into()])
        .await?;
    tx.execute("DELETE FROM api_tokens WHERE user_id = $1", vec![id.into()])
        .await?;
    let n = tx
        .execute("DELETE FROM users WHERE id = $1", vec![id.into()])
        .await?;
    if n == 0 {
        return Err(EngineError::not_found(format!("user {id}")));
    }
    Ok(())
}

/// Deletes a user as the platform itself.
pub async fn delete_user(db: &Db, id: Uuid) -> Result<()> {
    let mut tx = db.begin().await?;
    remove_user(&mut tx, id).await?;
    tx.commit().await
}

/// How many enabled administrators there are besides `except`. On PostgreSQL their rows stay
/// locked until the transaction ends, so two administrators cannot demote each other at once.
pub(crate) async fn other_active_admins(tx: &mut Tx, except: Uuid) -> Result<usize> {
    let lock = match tx.backend() {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let rows = tx
        .fetch_all(
            &format!("SELECT id FROM users WHERE is_admin = $1 AND disabled = $2{lock}"),
            vec![true.into(), false.into()],
        )
        .await?;
    let mut n = 0;
    for row in &rows {
        if row.req_uuid("id")? != except {
            n += 1;
        }
    }
    Ok(n)
}

/// The user's credentials epoch: it moves on with every password change.
pub async fn credentials_epoch(db: &Db, user_id: Uuid) -> Result<i64> {
    db.fetch_optional(
        "SELECT credentials_epoch FROM users WHERE id = $1",
        vec![user_id.into()],
    )
    .await?
    .ok_or(EngineError::Unauthenticated)?
    .req_int("credentials_epoch")
}

/// The principal a user acts as: their own flags and departments, and the union of their
/// roles' permissions and rights. Each role's permission entries are kept whole (not merged
/// per entity), so a row scope never widens another role's actions. A missing or disabled
/// user is `Unauthenticated`.
pub async fn load_principal(db: &Db, user_id: Uuid) -> Result<Principal> {
    let row = db
        .fetch_optional(
            &format!("SELECT {USER_COLUMNS}, credentials_epoch FROM users WHERE id = $1"),
            vec![user_id.into()],
        )
        .await?
        .ok_or(EngineError::Unauthenticated)?;
    let credentials_epoch = row.req_int("credentials_epoch")?;
    let user = user_from_row(&row, Vec::new())?;
    if user.disabled {
        return Err(EngineError::Unauthenticated);
    }
    let role_rows = db
        .fetch_all(
            "SELECT r.name, r.permissions, r.rights FROM roles r JOIN user_roles ur ON ur.role = r.name \
             WHERE ur.user_id = $1 ORDER BY r.name",
            vec![user_id.into()],
        )
        .await?;
    let mut permissions: Vec<EntityPermission> = Vec::new();
    let mut rights: Vec<SystemRight> = Vec::new();
    for r in &role_rows {
        let name = r.req_text("name")?;
        let perms: Vec<EntityPermission> = serde_json::from_value(r.req_json("permissions")?)
            .map_err(|e| {
                EngineError::internal(format!("bad stored permissions of role {name}: {e}"))
            })?;
        let role_rights: Vec<SystemRight> = serde_json::from_value(r.req_json("rights")?)
            .map_err(|e| EngineError::internal(format!("bad stored rights of role {name}: {e}")))?;
        for p in perms {
            if !permissions.contains(&p) {
                permissions.push(p);
            }
        }
        for right in role_rights {
            if !rights.contains(&right) {
                rights.push(right);
            }
        }
    }
    Ok(Principal {
        user_id: Some(user.id),
        actor: user.id.to_string(),
        username: user.username,
        is_admin: user.is_admin,
        departments: user.departments,
        permissions,
        rights,
        by_token: false,
        credentials_epoch,
        run: None,
    })
}
