//! The store of saved report definitions (segments, charts, dashboards): addressed by name,
//! every saved version kept, DESIGN.md's definition rule for preconditions. It mirrors how
//! flows are saved (`flows::service`): a deleted name keeps its row, so a name used again
//! continues its version numbers; a save that changes nothing answers the same version and
//! writes no history.

use crate::access::audit::{self, AuditEntry};
use crate::access::Principal;
use crate::engine::Engine;
use crate::error::{EngineError, FieldError, Result};
use crate::names::check_slug;
use crate::store::{Arg, Conn, DbRow};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

/// What kind of definition a row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SavedKind {
    Segment,
    Chart,
    Dashboard,
}

impl SavedKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SavedKind::Segment => "segment",
            SavedKind::Chart => "chart",
            SavedKind::Dashboard => "dashboard",
        }
    }

    /// The Chinese word, for messages.
    pub fn zh(self) -> &'static str {
        match self {
            SavedKind::Segment => "分群",
            SavedKind::Chart => "图表",
            SavedKind::Dashboard => "仪表板",
        }
    }
}

/// Keys an answer adds to a definition; a PUT of what a GET answered carries them, so they
/// are taken off before the body is read (`version` is the precondition).
pub const ANSWER_KEYS: [&str; 6] = [
    "version",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "member_count",
];

/// One saved definition as stored.
#[derive(Debug, Clone)]
pub struct SavedRow {
    pub name: String,
    pub version: i64,
    pub entity: Option<String>,
    pub definition: Value,
    pub created_at: OffsetDateTime,
    pub created_by: String,
    pub updated_at: OffsetDateTime,
    pub updated_by: String,
}

impl SavedRow {
    fn from_row(row: &DbRow) -> Result<SavedRow> {
        Ok(SavedRow {
            name: row.req_text("name")?,
            version: row.req_int("version")?,
            entity: row.text("entity")?,
            definition: row.req_json("definition")?,
            created_at: row.req_time("created_at")?,
            created_by: row.req_text("created_by")?,
            updated_at: row.req_time("updated_at")?,
            updated_by: row.req_text("updated_by")?,
        })
    }

    /// The definition as answered: the stored keys plus version and who saved it when.
    pub fn answer(&self) -> Value {
        let mut out = match &self.definition {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
        out.insert("version".into(), json!(self.version));
        for (key, at) in [
            ("created_at", self.created_at),
            ("updated_at", self.updated_at),
        ] {
            out.insert(
                key.into(),
                json!(crate::forms::checks::format_datetime_utc(at)),
            );
        }
        out.insert("created_by".into(), json!(self.created_by));
        out.insert("updated_by".into(), json!(self.updated_by));
        Value::Object(out)
    }
}

/// The body without the keys an answer adds, and the version it carries (a precondition).
pub fn body_parts(mut body: Value) -> Result<(Value, Option<i64>)> {
    let Some(map) = body.as_object_mut() else {
        return Err(EngineError::bad_request(
            "定义须为 JSON 对象（a definition is a JSON object）",
        ));
    };
    let version = match map.get("version") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| {
            EngineError::bad_request("version 须为整数（version must be a whole number）")
        })?),
    };
    for key in ANSWER_KEYS {
        map.remove(key);
    }
    Ok((body, version))
}

/// A 400 for a definition that does not parse, naming the problem.
pub fn shape_error(kind: SavedKind, e: impl std::fmt::Display) -> EngineError {
    EngineError::BadRequest {
        message: format!(
            "{}定义格式不正确（the {} definition is not of the documented shape: {e}）",
            kind.zh(),
            kind.as_str()
        ),
        details: vec![FieldError::new("", "schema", e.to_string())],
    }
}

/// A definition's name: a slug of at most 28 characters.
pub fn check_name(kind: SavedKind, name: &str) -> Result<()> {
    check_slug(name).map_err(|e| EngineError::BadRequest {
        message: format!(
            "{}名称无效（the {} name is not valid: {e}）",
            kind.zh(),
            kind.as_str()
        ),
        details: vec![FieldError::new("name", "bad_name", e.to_string())],
    })
}

/// The precondition of a PUT or DELETE: `If-Match`, else the body's `version`.
pub fn precondition(if_match: Option<i64>, body_version: Option<i64>, current: i64) -> Result<()> {
    match if_match.or(body_version) {
        Some(expected) if expected != current => Err(EngineError::VersionConflict { current }),
        _ => Ok(()),
    }
}

impl Engine {
    /// The live definition `name` of `kind`, read on `conn`.
    pub(crate) async fn saved_row_on(
        conn: &mut Conn<'_>,
        kind: SavedKind,
        name: &str,
    ) -> Result<Option<SavedRow>> {
        conn.fetch_optional(
            "SELECT name, version, entity, definition, created_at, created_by, updated_at, updated_by \
             FROM report_definitions WHERE kind = $1 AND name = $2 AND deleted_at IS NULL",
            vec![Arg::from(kind.as_str()), Arg::from(name)],
        )
        .await?
        .map(|row| SavedRow::from_row(&row))
        .transpose()
    }

    /// The live definition `name` of `kind`.
    pub(crate) async fn saved_row(&self, kind: SavedKind, name: &str) -> Result<Option<SavedRow>> {
        let mut conn = self.db.acquire().await?;
        Self::saved_row_on(&mut conn.conn(), kind, name).await
    }

    /// The live definition `name` of `kind`, or 404.
    pub(crate) async fn require_saved(&self, kind: SavedKind, name: &str) -> Result<SavedRow> {
        self.saved_row(kind, name)
            .await?
            .ok_or_else(|| EngineError::not_found(format!("{} {name}", kind.as_str())))
    }

    /// Every live definition of `kind`, by name.
    pub(crate) async fn saved_rows(&self, kind: SavedKind) -> Result<Vec<SavedRow>> {
        self.db
            .fetch_all(
                "SELECT name, version, entity, definition, created_at, created_by, updated_at, updated_by \
                 FROM report_definitions WHERE kind = $1 AND deleted_at IS NULL ORDER BY name",
                vec![Arg::from(kind.as_str())],
            )
            .await?
            .iter()
            .map(SavedRow::from_row)
            .collect()
    }

    /// Saves a new definition in `conn`'s transaction; 409 when the name is live. A name
    /// deleted before continues its version numbers.
    pub(crate) async fn insert_saved(
        &self,
        conn: &mut Conn<'_>,
        principal: &Principal,
        kind: SavedKind,
        name: &str,
        entity: Option<&str>,
        stored: &Value,
    ) -> Result<i64> {
        let exists = || {
            EngineError::Conflict(format!(
                "{}{name} 已存在（{} {name} exists）",
                kind.zh(),
                kind.as_str()
            ))
        };
        let previous = conn
            .fetch_optional(
                "SELECT version, deleted_at FROM report_definitions WHERE kind = $1 AND name = $2",
                vec![Arg::from(kind.as_str()), Arg::from(name)],
            )
            .await?;
        let version = match &previous {
            Some(row) if row.time("deleted_at")?.is_none() => return Err(exists()),
            Some(row) => row.req_int("version")? + 1,
            None => 1,
        };
        let now = self.now();
        let args = vec![
            Arg::from(kind.as_str()),
            Arg::from(name),
            Arg::from(version),
            Arg::from(entity.map(str::to_string)),
            Arg::Json(Some(stored.clone())),
            Arg::from(now),
            Arg::from(principal.actor.as_str()),
        ];
        let sql = if previous.is_some() {
            // Guarded by the version read, so two saves racing to revive a name do not both win.
            "UPDATE report_definitions SET version = $3, entity = $4, definition = $5, created_at = $6, \
             created_by = $7, updated_at = $6, updated_by = $7, deleted_at = NULL \
             WHERE kind = $1 AND name = $2 AND version = $3 - 1 AND deleted_at IS NOT NULL"
        } else {
            "INSERT INTO report_definitions (kind, name, version, entity, definition, created_at, created_by, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $7)"
        };
        let written = conn.execute(sql, args).await.map_err(|e| {
            if e.is_unique_violation() {
                exists()
            } else {
                e
            }
        })?;
        if written == 0 {
            return Err(exists());
        }
        self.saved_version(
            conn, principal, kind, name, version, entity, stored, "create",
        )
        .await?;
        Ok(version)
    }

    /// Writes a changed definition over version `current`; 409 when another save came first.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn update_saved(
        &self,
        conn: &mut Conn<'_>,
        principal: &Principal,
        kind: SavedKind,
        name: &str,
        current: i64,
        entity: Option<&str>,
        stored: &Value,
    ) -> Result<i64> {
        let version = current + 1;
        let changed = conn
            .execute(
                "UPDATE report_definitions SET version = $3, entity = $4, definition = $5, updated_at = $6, updated_by = $7 \
                 WHERE kind = $1 AND name = $2 AND version = $8 AND deleted_at IS NULL",
                vec![
                    Arg::from(kind.as_str()),
                    Arg::from(name),
                    Arg::from(version),
                    Arg::from(entity.map(str::to_string)),
                    Arg::Json(Some(stored.clone())),
                    Arg::from(self.now()),
                    Arg::from(principal.actor.as_str()),
                    Arg::from(current),
                ],
            )
            .await?;
        if changed == 0 {
            return Err(EngineError::VersionConflict { current: version });
        }
        self.saved_version(
            conn, principal, kind, name, version, entity, stored, "update",
        )
        .await?;
        Ok(version)
    }

    /// Deletes version `current` of a definition; its versions stay.
    pub(crate) async fn delete_saved(
        &self,
        conn: &mut Conn<'_>,
        principal: &Principal,
        kind: SavedKind,
        name: &str,
        current: i64,
        entity: Option<&str>,
    ) -> Result<()> {
        let now = self.now();
        let changed = conn
            .execute(
                "UPDATE report_definitions SET deleted_at = $3, updated_at = $3, updated_by = $4 \
                 WHERE kind = $1 AND name = $2 AND version = $5 AND deleted_at IS NULL",
                vec![
                    Arg::from(kind.as_str()),
                    Arg::from(name),
                    Arg::from(now),
                    Arg::from(principal.actor.as_str()),
                    Arg::from(current),
                ],
            )
            .await?;
        if changed == 0 {
            return Err(EngineError::VersionConflict {
                current: current + 1,
            });
        }
        let mut entry = AuditEntry::new(&principal.actor, format!("{}.delete", kind.as_str()))
            .detail(json!({"name": name, "version": current}));
        if let Some(entity) = entity {
            entry = entry.entity(entity);
        }
        audit::append(conn, self.clock.as_ref(), &entry).await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn saved_version(
        &self,
        conn: &mut Conn<'_>,
        principal: &Principal,
        kind: SavedKind,
        name: &str,
        version: i64,
        entity: Option<&str>,
        stored: &Value,
        action: &str,
    ) -> Result<()> {
        conn.execute(
            "INSERT INTO report_definition_versions (kind, name, version, definition, saved_at, saved_by) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            vec![
                Arg::from(kind.as_str()),
                Arg::from(name),
                Arg::from(version),
                Arg::Json(Some(stored.clone())),
                Arg::from(self.now()),
                Arg::from(principal.actor.as_str()),
            ],
        )
        .await?;
        let mut entry = AuditEntry::new(&principal.actor, format!("{}.{action}", kind.as_str()))
            .detail(json!({"name": name, "version": version}));
        if let Some(entity) = entity {
            entry = entry.entity(entity);
        }
        audit::append(conn, self.clock.as_ref(), &entry).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_keys_come_off_and_the_version_is_the_precondition() {
        let (body, version) = body_parts(json!({"name": "a", "version": 3, "member_count": 9,
            "updated_by": "x"}))
        .unwrap();
        assert_eq!(body, json!({"name": "a"}));
        assert_eq!(version, Some(3));
        assert!(body_parts(json!({"version": "3"})).is_err());
        assert!(body_parts(json!([1])).is_err());
        assert!(precondition(Some(2), Some(3), 3).is_err());
        assert!(precondition(None, Some(3), 3).is_ok());
        assert!(precondition(None, None, 3).is_ok());
        assert!(matches!(
            precondition(None, Some(2), 3),
            Err(EngineError::VersionConflict { current: 3 })
        ));
    }
}
