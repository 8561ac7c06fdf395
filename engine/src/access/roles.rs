//! Roles: named sets of entity permissions and system rights. Names, entities and fields are
//! slugs, checked by their types when a role is deserialized or built.

use crate::access::principal::{EntityPermission, Role, SystemRight};
use crate::clock::Clock;
use crate::error::{EngineError, FieldError, Result};
use crate::i18n::Label;
use crate::names::EntityName;
use crate::store::{Arg, Conn, Db, DbRow, Tx};
use serde_json::Value;

fn role_from_row(row: &DbRow) -> Result<Role> {
    let name = row.req_text("name")?;
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        EngineError::internal(format!("bad stored {what} of role {name}: {e}"))
    };
    let label: Option<Label> = match row.json("label")? {
        None | Some(Value::Null) => None,
        Some(v) => Some(serde_json::from_value(v).map_err(|e| bad("label", &e))?),
    };
    let permissions: Vec<EntityPermission> =
        serde_json::from_value(row.req_json("permissions")?).map_err(|e| bad("permissions", &e))?;
    let rights: Vec<SystemRight> =
        serde_json::from_value(row.req_json("rights")?).map_err(|e| bad("rights", &e))?;
    Ok(Role {
        name: EntityName::new(name.clone()).map_err(|e| bad("name", &e))?,
        label,
        permissions,
        rights,
        version: Some(row.req_int("version")?),
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Value> {
    serde_json::to_value(v).map_err(EngineError::internal)
}

fn label_arg(role: &Role) -> Result<Arg> {
    Ok(Arg::Json(role.label.as_ref().map(to_json).transpose()?))
}

/// Rights listed twice are kept once; the version is the store's to give.
fn normalized(role: &Role) -> Role {
    let mut role = role.clone();
    role.version = None;
    let mut rights = Vec::new();
    for r in role.rights {
        if !rights.contains(&r) {
            rights.push(r);
        }
    }
    role.rights = rights;
    role
}

fn duplicate_role(name: &str) -> EngineError {
    EngineError::Conflict(format!(
        "角色已存在：{name} / The role {name} already exists"
    ))
}

const ROLE_COLUMNS: &str = "name, label, permissions, rights, version";

/// Every entity a role names must exist, or a future entity of that name would be granted in
/// advance.
pub(crate) async fn check_entities_exist(conn: &mut Conn<'_>, role: &Role) -> Result<()> {
    for p in &role.permissions {
        let found = conn
            .fetch_optional(
                "SELECT name FROM entities WHERE name = $1",
                vec![p.entity.as_str().into()],
            )
            .await?;
        if found.is_none() {
            let message = format!("实体不存在：{} / Unknown entity: {}", p.entity, p.entity);
            return Err(EngineError::BadRequest {
                message: message.clone(),
                details: vec![FieldError::new("permissions", "unknown_entity", message)],
            });
        }
    }
    Ok(())
}

/// Inserts a role in `tx`; a taken name is a `Conflict`.
pub(crate) async fn insert_role(tx: &mut Tx, clock: &dyn Clock, role: &Role) -> Result<Role> {
    let mut role = normalized(role);
    if tx
        .fetch_optional(
            "SELECT name FROM roles WHERE name = $1",
            vec![role.name.as_str().into()],
        )
        .await?
        .is_some()
    {
        return Err(duplicate_role(role.name.as_str()));
    }
    let now = clock.now();
    let inserted = tx
        .execute(
            "INSERT INTO roles (name, label, permissions, rights, created_at, updated_at, version) \
             VALUES ($1, $2, $3, $4, $5, $6, 1)",
            vec![
                role.name.as_str().into(),
                label_arg(&role)?,
                Arg::Json(Some(to_json(&role.permissions)?)),
                Arg::Json(Some(to_json(&role.rights)?)),
                now.into(),
                now.into(),
            ],
        )
        .await;
    match inserted {
        Err(EngineError::Storage(sqlx::Error::Database(d))) if d.is_unique_violation() => {
            return Err(duplicate_role(role.name.as_str()))
        }
        other => other?,
    };
    role.version = Some(1);
    Ok(role)
}

/// Creates a role as the platform itself (packs, tests); a taken name is a `Conflict`.
pub async fn create_role(db: &Db, clock: &dyn Clock, role: &Role) -> Result<Role> {
    let mut tx = db.begin().await?;
    let role = insert_role(&mut tx, clock, role).await?;
    tx.commit().await?;
    Ok(role)
}

/// The role `name` as seen on `conn`, if any.
pub(crate) async fn role_in(conn: &mut Conn<'_>, name: &str) -> Result<Option<Role>> {
    conn.fetch_optional(
        &format!("SELECT {ROLE_COLUMNS} FROM roles WHERE name = $1"),
        vec![name.into()],
    )
    .await?
    .as_ref()
    .map(role_from_row)
    .transpose()
}

/// The roles named, each of which must exist.
pub(crate) async fn roles_named(conn: &mut Conn<'_>, names: &[String]) -> Result<Vec<Role>> {
    let mut out = Vec::new();
    for name in names {
        out.push(
            role_in(conn, name)
                .await?
                .ok_or_else(|| EngineError::not_found(format!("role {name}")))?,
        );
    }
    Ok(out)
}

pub async fn get_role(db: &Db, name: &str) -> Result<Role> {
    role_in(&mut db.acquire().await?.conn(), name)
        .await?
        .ok_or_else(|| EngineError::not_found(format!("role {name}")))
}

/// Every role, by name (roles are few).
pub async fn list_roles(db: &Db) -> Result<Vec<Role>> {
    db.fetch_all(
        &format!("SELECT {ROLE_COLUMNS} FROM roles ORDER BY name"),
        vec![],
    )
    .await?
    .iter()
    .map(role_from_row)
    .collect()
}

/// A PUT to `/roles/{name}` carries that name: renaming is not allowed.
pub(crate) fn check_same_name(name: &str, role: &Role) -> Result<()> {
    if role.name.as_str() != name {
        return Err(EngineError::bad_request(format!(
            "角色名称不可修改（{name} → {}）/ A role cannot be renamed ({name} → {})",
            role.name, role.name
        )));
    }
    Ok(())
}

/// Replaces `current` with `role` in `tx` (PUT). Renaming is not allowed. A replacement that
/// changes nothing keeps the version.
pub(crate) async fn replace_role(
    tx: &mut Tx,
    clock: &dyn Clock,
    current: &Role,
    role: &Role,
) -> Result<Role> {
    let name = current.name.as_str();
    check_same_name(name, role)?;
    let mut role = normalized(role);
    let version = current.version.unwrap_or(1);
    if role == normalized(current) {
        role.version = Some(version);
        return Ok(role);
    }
    let n = tx
        .execute(
            "UPDATE roles SET label = $1, permissions = $2, rights = $3, updated_at = $4, \
             version = version + 1 WHERE name = $5 AND version = $6",
            vec![
                label_arg(&role)?,
                Arg::Json(Some(to_json(&role.permissions)?)),
                Arg::Json(Some(to_json(&role.rights)?)),
                clock.now().into(),
                name.into(),
                version.into(),
            ],
        )
        .await?;
    if n == 0 {
        return Err(EngineError::VersionConflict {
            current: version + 1,
        });
    }
    role.version = Some(version + 1);
    Ok(role)
}

/// Replaces the role `name` with `role` as the platform itself.
pub async fn update_role(db: &Db, clock: &dyn Clock, name: &str, role: &Role) -> Result<Role> {
    check_same_name(name, role)?;
    let mut tx = db.begin().await?;
    let current = role_in(&mut tx.conn(), name)
        .await?
        .ok_or_else(|| EngineError::not_found(format!("role {name}")))?;
    let role = replace_role(&mut tx, clock, &current, role).await?;
    tx.commit().await?;
    Ok(role)
}

/// Removes a role in `tx`; users holding it lose it.
pub(crate) async fn remove_role(tx: &mut Tx, name: &str) -> Result<()> {
    tx.execute("DELETE FROM user_roles WHERE role = $1", vec![name.into()])
        .await?;
    let n = tx
        .execute("DELETE FROM roles WHERE name = $1", vec![name.into()])
        .await?;
    if n == 0 {
        return Err(EngineError::not_found(format!("role {name}")));
    }
    Ok(())
}

/// Deletes a role as the platform itself; users holding it lose it.
pub async fn delete_role(db: &Db, name: &str) -> Result<()> {
    let mut tx = db.begin().await?;
    remove_role(&mut tx, name).await?;
    tx.commit().await
}
