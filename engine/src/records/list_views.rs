//! Saved list views: a user's named list states (search, filters, sort, columns, page size) for
//! one entity, kept on the server so they follow the user from one ward PC to the next.
//!
//! The browser owns the state's shape; the server bounds its size and keeps each view private
//! to its user. A view's filter is not trusted when applied: the list it asks for goes through
//! the same permission check as any other list, so a field hidden since is refused there.

use crate::access::{Action, Principal};
use crate::engine::Engine;
use crate::error::{EngineError, FieldError, Result};
use crate::i18n::Lang;
use crate::store::DbRow;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

pub const MAX_VIEW_NAME_CHARS: usize = 50;
/// The serialized state's bound: a list state with many filters fits well within it.
pub const MAX_VIEW_STATE_BYTES: usize = 8 * 1024;
/// Views one user keeps per entity.
pub const MAX_VIEWS_PER_ENTITY: i64 = 50;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListView {
    pub id: Uuid,
    pub entity: String,
    pub name: String,
    pub state: Value,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

const VIEW_COLUMNS: &str = "id, entity, name, state, created_at, updated_at";

fn view_from_row(row: &DbRow) -> Result<ListView> {
    Ok(ListView {
        id: row.req_uuid("id")?,
        entity: row.req_text("entity")?,
        name: row.req_text("name")?,
        state: row.req_json("state")?,
        created_at: row.req_time("created_at")?,
        updated_at: row.req_time("updated_at")?,
    })
}

fn invalid(field: &str, code: &str, message: &str) -> EngineError {
    EngineError::BadRequest {
        details: vec![FieldError::new(field, code, message)],
        message: message.to_string(),
    }
}

/// The name trimmed, or why it cannot be one.
fn checked_name(name: &str, lang: Lang) -> Result<String> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_VIEW_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(invalid(
            "name",
            "invalid_name",
            lang.pick(
                &format!("视图名称须为 1 到 {MAX_VIEW_NAME_CHARS} 个字符"),
                &format!("A view's name is 1 to {MAX_VIEW_NAME_CHARS} characters"),
            ),
        ));
    }
    Ok(name.to_string())
}

fn check_state(state: &Value, lang: Lang) -> Result<()> {
    if !state.is_object() {
        return Err(invalid(
            "state",
            "invalid_state",
            lang.pick("视图状态须为 JSON 对象", "A view's state is a JSON object"),
        ));
    }
    if state.to_string().len() > MAX_VIEW_STATE_BYTES {
        return Err(invalid(
            "state",
            "too_large",
            lang.pick(
                &format!("视图状态不能超过 {} KiB", MAX_VIEW_STATE_BYTES / 1024),
                &format!(
                    "A view's state is at most {} KiB",
                    MAX_VIEW_STATE_BYTES / 1024
                ),
            ),
        ));
    }
    Ok(())
}

fn name_taken(name: &str, lang: Lang) -> EngineError {
    EngineError::Conflict(
        lang.pick(
            &format!("已有名为「{name}」的视图"),
            &format!("A view named {name} already exists"),
        )
        .to_string(),
    )
}

/// Views belong to a signed-in user; the platform itself (a CLI principal) has none.
fn owner(principal: &Principal) -> Result<Uuid> {
    principal.user_id.ok_or(EngineError::Unauthenticated)
}

impl Engine {
    /// The caller's views of `entity`, in the order they were saved. Needs the right to read the entity.
    pub async fn list_views(&self, principal: &Principal, entity: &str) -> Result<Vec<ListView>> {
        let user = owner(principal)?;
        self.entity(entity).await?;
        principal.require(entity, Action::Read)?;
        self.db
            .fetch_all(
                &format!(
                    "SELECT {VIEW_COLUMNS} FROM list_views WHERE user_id = $1 AND entity = $2 \
                     ORDER BY created_at, id"
                ),
                vec![user.into(), entity.into()],
            )
            .await?
            .iter()
            .map(view_from_row)
            .collect()
    }

    /// Saves a new view of `entity` for the caller; a name already used for it is a conflict.
    pub async fn create_view(
        &self,
        principal: &Principal,
        entity: &str,
        name: &str,
        state: Value,
        lang: Lang,
    ) -> Result<ListView> {
        let user = owner(principal)?;
        self.entity(entity).await?;
        principal.require(entity, Action::Read)?;
        let name = checked_name(name, lang)?;
        check_state(&state, lang)?;
        let now = self.now();
        let view = ListView {
            id: Uuid::now_v7(),
            entity: entity.to_string(),
            name,
            state,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db.begin().await?;
        let held = tx
            .conn()
            .fetch_one(
                "SELECT COUNT(*) AS n FROM list_views WHERE user_id = $1 AND entity = $2",
                vec![user.into(), entity.into()],
            )
            .await?
            .req_int("n")?;
        if held >= MAX_VIEWS_PER_ENTITY {
            return Err(invalid(
                "name",
                "too_many",
                lang.pick(
                    &format!("每个实体最多保存 {MAX_VIEWS_PER_ENTITY} 个视图，请先删除不用的"),
                    &format!(
                        "At most {MAX_VIEWS_PER_ENTITY} views per entity: delete one you no longer use"
                    ),
                ),
            ));
        }
        let inserted = tx
            .conn()
            .execute(
                "INSERT INTO list_views (id, user_id, entity, name, state, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                vec![
                    view.id.into(),
                    user.into(),
                    view.entity.clone().into(),
                    view.name.clone().into(),
                    view.state.clone().into(),
                    now.into(),
                    now.into(),
                ],
            )
            .await;
        match inserted {
            Err(e) if e.is_unique_violation() => return Err(name_taken(&view.name, lang)),
            other => other?,
        };
        tx.commit().await?;
        Ok(view)
    }

    /// Renames a view of the caller's and replaces its state. Someone else's view is not found.
    pub async fn update_view(
        &self,
        principal: &Principal,
        id: Uuid,
        name: &str,
        state: Value,
        lang: Lang,
    ) -> Result<ListView> {
        let user = owner(principal)?;
        let name = checked_name(name, lang)?;
        check_state(&state, lang)?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let updated = tx
            .conn()
            .execute(
                "UPDATE list_views SET name = $1, state = $2, updated_at = $3 \
                 WHERE id = $4 AND user_id = $5",
                vec![
                    name.clone().into(),
                    state.into(),
                    now.into(),
                    id.into(),
                    user.into(),
                ],
            )
            .await;
        let changed = match updated {
            Err(e) if e.is_unique_violation() => return Err(name_taken(&name, lang)),
            other => other?,
        };
        if changed == 0 {
            return Err(EngineError::not_found(format!("list view {id}")));
        }
        let row = tx
            .conn()
            .fetch_one(
                &format!("SELECT {VIEW_COLUMNS} FROM list_views WHERE id = $1"),
                vec![id.into()],
            )
            .await?;
        tx.commit().await?;
        view_from_row(&row)
    }

    /// Deletes a view of the caller's. Someone else's view is not found.
    pub async fn delete_view(&self, principal: &Principal, id: Uuid) -> Result<()> {
        let user = owner(principal)?;
        let mut tx = self.db.begin().await?;
        let deleted = tx
            .conn()
            .execute(
                "DELETE FROM list_views WHERE id = $1 AND user_id = $2",
                vec![id.into(), user.into()],
            )
            .await?;
        if deleted == 0 {
            return Err(EngineError::not_found(format!("list view {id}")));
        }
        tx.commit().await?;
        Ok(())
    }
}
