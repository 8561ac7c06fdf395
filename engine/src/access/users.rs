//! Users: creation, lookup, update, deletion, and the [`Principal`] a user acts as. The
//! password hash never leaves this module's SQL.

use crate::access::paging::limit_offset;
use crate::access::passwords::{check_password_policy, hash_password_blocking};
use crate::access::principal::{EntityPermission, Principal, SystemRight};
use crate::clock::Clock;
use crate::error::{EngineError, FieldError, Result};
use crate::store::{Arg, Db, DbRow, Tx};
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
    /// A new password, subject to the policy.
    #[serde(default)]
    pub password: Option<String>,
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

fn is_unique_violation(e: &EngineError) -> bool {
    matches!(e, EngineError::Storage(sqlx::Error::Database(d)) if d.is_unique_violation())
}

fn duplicate_username(username: &str) -> EngineError {
    EngineError::Conflict(format!(
        "用户名已存在：{username} / The user name {username} is already taken"
    ))
}

const USER_COLUMNS: &str =
    "id, username, display_name, is_admin, departments, disabled, created_at, updated_at";

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
    })
}

async fn roles_of(db: &Db, user_id: Uuid) -> Result<Vec<String>> {
    db.fetch_all(
        "SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role",
        vec![user_id.into()],
    )
    .await?
    .iter()
    .map(|r| r.req_text("role"))
    .collect()
}

/// Creates a user. A taken user name is a `Conflict`; an unknown role a `BadRequest`.
pub async fn create_user(db: &Db, clock: &dyn Clock, new: NewUser) -> Result<User> {
    check_username(&new.username)?;
    check_password_policy(&new.password)?;
    let display_name = check_display_name(new.display_name)?;
    let departments = check_departments(new.departments)?;
    // Hash before taking the write lock: argon2 is slow on purpose.
    let hash = hash_password_blocking(&new.password).await?;

    let mut tx = db.begin().await?;
    let roles = check_roles(&mut tx, new.roles).await?;
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
            "INSERT INTO users (id, username, display_name, password_hash, is_admin, departments, disabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            vec![
                id.into(),
                new.username.clone().into(),
                display_name.clone().into(),
                hash.into(),
                new.is_admin.into(),
                Arg::Json(Some(serde_json::json!(departments))),
                false.into(),
                now.into(),
                now.into(),
            ],
        )
        .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => return Err(duplicate_username(&new.username)),
        other => other?,
    };
    set_roles(&mut tx, id, &roles).await?;
    match tx.commit().await {
        Err(e) if is_unique_violation(&e) => return Err(duplicate_username(&new.username)),
        other => other?,
    }
    let mut roles = roles;
    roles.sort();
    Ok(User {
        id,
        username: new.username,
        display_name,
        is_admin: new.is_admin,
        roles,
        departments,
        disabled: false,
        created_at: now,
        updated_at: now,
    })
}

pub async fn get_user(db: &Db, id: Uuid) -> Result<User> {
    let row = db
        .fetch_optional(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"),
            vec![id.into()],
        )
        .await?
        .ok_or_else(|| EngineError::not_found(format!("user {id}")))?;
    user_from_row(&row, roles_of(db, id).await?)
}

/// The user with exactly this user name, if any.
pub async fn find_by_username(db: &Db, username: &str) -> Result<Option<User>> {
    let Some(row) = db
        .fetch_optional(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1"),
            vec![username.into()],
        )
        .await?
    else {
        return Ok(None);
    };
    let id = row.req_uuid("id")?;
    Ok(Some(user_from_row(&row, roles_of(db, id).await?)?))
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

/// Changes the given parts of a user; roles given replace the user's roles.
pub async fn update_user(db: &Db, clock: &dyn Clock, id: Uuid, update: UserUpdate) -> Result<User> {
    let new_hash = match &update.password {
        Some(p) => {
            check_password_policy(p)?;
            Some(hash_password_blocking(p).await?)
        }
        None => None,
    };
    let display_name = update.display_name.map(check_display_name).transpose()?;
    let departments = update.departments.map(check_departments).transpose()?;

    let mut tx = db.begin().await?;
    let row = tx
        .fetch_optional(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"),
            vec![id.into()],
        )
        .await?
        .ok_or_else(|| EngineError::not_found(format!("user {id}")))?;
    let current = user_from_row(&row, Vec::new())?;
    if let Some(roles) = update.roles {
        let roles = check_roles(&mut tx, roles).await?;
        set_roles(&mut tx, id, &roles).await?;
    }
    let display_name = display_name.unwrap_or(current.display_name);
    let departments = departments.unwrap_or(current.departments);
    tx.execute(
        "UPDATE users SET display_name = $1, is_admin = $2, departments = $3, disabled = $4, updated_at = $5 \
         WHERE id = $6",
        vec![
            display_name.into(),
            update.is_admin.unwrap_or(current.is_admin).into(),
            Arg::Json(Some(serde_json::json!(departments))),
            update.disabled.unwrap_or(current.disabled).into(),
            clock.now().into(),
            id.into(),
        ],
    )
    .await?;
    if let Some(hash) = new_hash {
        tx.execute(
            "UPDATE users SET password_hash = $1 WHERE id = $2",
            vec![hash.into(), id.into()],
        )
        .await?;
    }
    tx.commit().await?;
    get_user(db, id).await
}

/// Deletes a user with their role grants and API tokens. Audit entries naming them stay.
pub async fn delete_user(db: &Db, id: Uuid) -> Result<()> {
    let mut tx = db.begin().await?;
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
    tx.commit().await
}

/// The principal a user acts as: their own flags and departments, and the union of their
/// roles' permissions and rights. Each role's permission entries are kept whole (not merged
/// per entity), so a row scope never widens another role's actions. A missing or disabled
/// user is `Unauthenticated`.
pub async fn load_principal(db: &Db, user_id: Uuid) -> Result<Principal> {
    let row = db
        .fetch_optional(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"),
            vec![user_id.into()],
        )
        .await?
        .ok_or(EngineError::Unauthenticated)?;
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
    })
}
