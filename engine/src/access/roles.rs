//! Roles: named sets of entity permissions and system rights. Names, entities and fields are
//! slugs, checked by their types when a role is deserialized or built.

use crate::access::principal::{EntityPermission, Role, SystemRight};
use crate::clock::Clock;
use crate::error::{EngineError, Result};
use crate::i18n::Label;
use crate::names::EntityName;
use crate::store::{Arg, Db, DbRow};
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
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Value> {
    serde_json::to_value(v).map_err(EngineError::internal)
}

fn label_arg(role: &Role) -> Result<Arg> {
    Ok(Arg::Json(role.label.as_ref().map(to_json).transpose()?))
}

/// Rights listed twice are kept once.
fn normalized(role: &Role) -> Role {
    let mut role = role.clone();
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

/// Creates a role; a taken name is a `Conflict`.
pub async fn create_role(db: &Db, clock: &dyn Clock, role: &Role) -> Result<Role> {
    let role = normalized(role);
    let mut tx = db.begin().await?;
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
            "INSERT INTO roles (name, label, permissions, rights, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
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
    tx.commit().await?;
    Ok(role)
}

pub async fn get_role(db: &Db, name: &str) -> Result<Role> {
    let row = db
        .fetch_optional(
            "SELECT name, label, permissions, rights FROM roles WHERE name = $1",
            vec![name.into()],
        )
        .await?
        .ok_or_else(|| EngineError::not_found(format!("role {name}")))?;
    role_from_row(&row)
}

/// Every role, by name (roles are few).
pub async fn list_roles(db: &Db) -> Result<Vec<Role>> {
    db.fetch_all(
        "SELECT name, label, permissions, rights FROM roles ORDER BY name",
        vec![],
    )
    .await?
    .iter()
    .map(role_from_row)
    .collect()
}

/// Replaces the role `name` with `role` (PUT). Renaming is not allowed: `role.name` must be
/// `name`.
pub async fn update_role(db: &Db, clock: &dyn Clock, name: &str, role: &Role) -> Result<Role> {
    if role.name.as_str() != name {
        return Err(EngineError::bad_request(format!(
            "角色名称不可修改（{name} → {}）/ A role cannot be renamed ({name} → {})",
            role.name, role.name
        )));
    }
    let role = normalized(role);
    let n = db
        .execute(
            "UPDATE roles SET label = $1, permissions = $2, rights = $3, updated_at = $4 WHERE name = $5",
            vec![
                label_arg(&role)?,
                Arg::Json(Some(to_json(&role.permissions)?)),
                Arg::Json(Some(to_json(&role.rights)?)),
                clock.now().into(),
                name.into(),
            ],
        )
        .await?;
    if n == 0 {
        return Err(EngineError::not_found(format!("role {name}")));
    }
    Ok(role)
}

/// Deletes a role; users holding it lose it.
pub async fn delete_role(db: &Db, name: &str) -> Result<()> {
    let mut tx = db.begin().await?;
    tx.execute("DELETE FROM user_roles WHERE role = $1", vec![name.into()])
        .await?;
    let n = tx
        .execute("DELETE FROM roles WHERE name = $1", vec![name.into()])
        .await?;
    if n == 0 {
        return Err(EngineError::not_found(format!("role {name}")));
    }
    tx.commit().await
}
