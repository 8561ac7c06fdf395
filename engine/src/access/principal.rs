//! Who is acting, and what their roles let them do. Checked in the engine, never only in the UI.

use crate::error::{EngineError, Result};
use crate::i18n::Label;
use crate::names::{EntityName, FieldName};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Read,
    Create,
    Update,
    Delete,
    Export,
    Design,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Export => "export",
            Action::Design => "design",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowScope {
    #[default]
    All,
    Own,
    Department,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldRule {
    Hidden,
    Masked,
    Read,
    Write,
}

/// System rights beyond entities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SystemRight {
    Users,
    Roles,
    Audit,
    Packs,
    Settings,
    NewEntity,
}

/// What a role grants on one entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityPermission {
    pub entity: EntityName,
    pub actions: Vec<Action>,
    #[serde(default)]
    pub rows: RowScope,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<FieldName, FieldRule>,
}

/// A role as the API and packs carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    pub name: EntityName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    #[serde(default)]
    pub permissions: Vec<EntityPermission>,
    #[serde(default)]
    pub rights: Vec<SystemRight>,
    /// The stored version, answered by GET; in a PUT body it is the precondition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

/// The one acting: a signed-in user, an API token's user, a flow, or the system itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub user_id: Option<Uuid>,
    /// What history and audit entries name: the user's id, `flow:<name>` or `system`.
    pub actor: String,
    pub username: String,
    pub is_admin: bool,
    pub departments: Vec<String>,
    pub permissions: Vec<EntityPermission>,
    pub rights: Vec<SystemRight>,
    /// Acting through an API token (which may not mint tokens).
    pub by_token: bool,
    /// The user's credentials epoch when loaded; a password change moves it on.
    pub credentials_epoch: i64,
    /// The flow run acting, when a flow writes: its writes' change events name it, so a run
    /// they start is one deeper (the depth limit).
    pub run: Option<Uuid>,
}

impl Principal {
    /// The platform acting for itself (CLI, migrations, backfills): every right.
    pub fn system() -> Principal {
        Principal {
            user_id: None,
            actor: "system".into(),
            username: "system".into(),
            is_admin: true,
            departments: Vec::new(),
            permissions: Vec::new(),
            rights: Vec::new(),
            by_token: false,
            credentials_epoch: 0,
            run: None,
        }
    }

    pub fn can(&self, entity: &str, action: Action) -> bool {
        self.is_admin
            || self
                .permissions
                .iter()
                .any(|p| p.entity.as_str() == entity && p.actions.contains(&action))
    }

    pub fn require(&self, entity: &str, action: Action) -> Result<()> {
        if self.can(entity, action) {
            Ok(())
        } else {
            Err(EngineError::Forbidden(format!(
                "{} {entity}",
                action.as_str()
            )))
        }
    }

    pub fn has_right(&self, right: SystemRight) -> bool {
        self.is_admin || self.rights.contains(&right)
    }

    pub fn require_right(&self, right: SystemRight) -> Result<()> {
        if self.has_right(right) {
            Ok(())
        } else {
            Err(EngineError::Forbidden(
                serde_json::to_value(right)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
            ))
        }
    }

    /// The widest row scope of the roles granting `read` on `entity` (`all` for the admin and
    /// the system; `own` when no role grants read, the narrowest).
    pub fn row_scope(&self, entity: &str) -> RowScope {
        if self.is_admin {
            return RowScope::All;
        }
        let rank = |s: RowScope| match s {
            RowScope::Own => 0,
            RowScope::Department => 1,
            RowScope::All => 2,
        };
        self.permissions
            .iter()
            .filter(|p| p.entity.as_str() == entity && p.actions.contains(&Action::Read))
            .map(|p| p.rows)
            .max_by_key(|s| rank(*s))
            .unwrap_or(RowScope::Own)
    }

    /// The most generous rule any of the principal's roles gives `field`; unlisted fields are
    /// `write` where the role may update, else `read`.
    pub fn field_rule(&self, entity: &str, field: &str) -> FieldRule {
        if self.is_admin {
            return FieldRule::Write;
        }
        let rank = |r: FieldRule| match r {
            FieldRule::Hidden => 0,
            FieldRule::Masked => 1,
            FieldRule::Read => 2,
            FieldRule::Write => 3,
        };
        self.permissions
            .iter()
            .filter(|p| p.entity.as_str() == entity && p.actions.contains(&Action::Read))
            .map(|p| {
                p.fields
                    .get(field)
                    .copied()
                    .unwrap_or(if p.actions.contains(&Action::Update) {
                        FieldRule::Write
                    } else {
                        FieldRule::Read
                    })
            })
            .max_by_key(|r| rank(*r))
            .unwrap_or(FieldRule::Hidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nurse() -> Principal {
        Principal {
            user_id: Some(Uuid::nil()),
            actor: Uuid::nil().to_string(),
            username: "nurse_li".into(),
            is_admin: false,
            departments: vec!["cardiology".into()],
            permissions: vec![EntityPermission {
                entity: EntityName::new("patient").unwrap(),
                actions: vec![Action::Read, Action::Update],
                rows: RowScope::Department,
                fields: [(FieldName::new("id_number").unwrap(), FieldRule::Masked)].into(),
            }],
            rights: vec![],
            by_token: false,
            credentials_epoch: 0,
            run: None,
        }
    }

    #[test]
    fn a_nurse_may_read_and_update_patients_but_not_delete_them() {
        let p = nurse();
        assert!(p.can("patient", Action::Read));
        assert!(p.can("patient", Action::Update));
        assert!(!p.can("patient", Action::Delete));
        assert!(!p.can("visit", Action::Read));
        assert!(p.require("patient", Action::Export).is_err());
        assert!(!p.has_right(SystemRight::Users));
    }

    #[test]
    fn the_widest_reading_role_sets_the_row_scope() {
        let mut p = nurse();
        assert_eq!(p.row_scope("patient"), RowScope::Department);
        assert_eq!(p.row_scope("visit"), RowScope::Own);
        p.permissions.push(EntityPermission {
            entity: EntityName::new("patient").unwrap(),
            actions: vec![Action::Read],
            rows: RowScope::Own,
            fields: BTreeMap::new(),
        });
        assert_eq!(p.row_scope("patient"), RowScope::Department);
        p.permissions.push(EntityPermission {
            entity: EntityName::new("patient").unwrap(),
            actions: vec![Action::Create],
            rows: RowScope::All,
            fields: BTreeMap::new(),
        });
        assert_eq!(
            p.row_scope("patient"),
            RowScope::Department,
            "create alone does not widen reading"
        );
        assert_eq!(Principal::system().row_scope("patient"), RowScope::All);
    }

    #[test]
    fn field_rules_default_by_update_right() {
        let p = nurse();
        assert_eq!(p.field_rule("patient", "id_number"), FieldRule::Masked);
        assert_eq!(p.field_rule("patient", "name"), FieldRule::Write);
        assert_eq!(p.field_rule("visit", "name"), FieldRule::Hidden);
        assert_eq!(
            Principal::system().field_rule("visit", "x"),
            FieldRule::Write
        );
    }
}
