//! What one may give: nobody grants, changes or removes what they do not hold themselves, and
//! only administrators touch administrators. Pure rules over a [`Principal`] and roles; the
//! account actions call them inside their transactions.

use crate::access::principal::{Action, EntityPermission, FieldRule, Principal, Role, RowScope};
use crate::error::{EngineError, Result};

fn rank(rule: FieldRule) -> u8 {
    match rule {
        FieldRule::Hidden => 0,
        FieldRule::Masked => 1,
        FieldRule::Read => 2,
        FieldRule::Write => 3,
    }
}

/// The rule one permission entry gives `field`: its own, or `write` where it may update, else
/// `read`.
fn rule_of(entry: &EntityPermission, field: &str) -> FieldRule {
    entry
        .fields
        .iter()
        .find(|(name, _)| name.as_str() == field)
        .map(|(_, rule)| *rule)
        .unwrap_or(if entry.actions.contains(&Action::Update) {
            FieldRule::Write
        } else {
            FieldRule::Read
        })
}

/// `held` reaches every row `wanted` does.
fn rows_cover(held: RowScope, wanted: RowScope) -> bool {
    held == RowScope::All || held == wanted
}

/// `held` gives `action` on at least the rows and fields `wanted` gives.
fn entry_covers(held: &EntityPermission, wanted: &EntityPermission, action: Action) -> bool {
    held.entity == wanted.entity
        && held.actions.contains(&action)
        && rows_cover(held.rows, wanted.rows)
        && held
            .fields
            .keys()
            .chain(wanted.fields.keys())
            .all(|f| rank(rule_of(wanted, f.as_str())) <= rank(rule_of(held, f.as_str())))
}

/// The first thing `role` grants that `principal` does not hold, in words; `None` when they
/// hold it all. Administrators hold everything.
pub fn missing_from(principal: &Principal, role: &Role) -> Option<String> {
    if principal.is_admin {
        return None;
    }
    for right in &role.rights {
        if !principal.rights.contains(right) {
            let name = serde_json::to_value(right)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            return Some(format!("right {name}"));
        }
    }
    for wanted in &role.permissions {
        for action in &wanted.actions {
            let held = principal
                .permissions
                .iter()
                .any(|p| entry_covers(p, wanted, *action));
            if !held {
                return Some(format!("{} {}", action.as_str(), wanted.entity));
            }
        }
    }
    None
}

/// Refuses giving, changing or taking away `role` by one who does not hold all of it.
pub fn require_holds(principal: &Principal, role: &Role) -> Result<()> {
    match missing_from(principal, role) {
        None => Ok(()),
        Some(what) => Err(EngineError::Forbidden(format!(
            "role {} grants {what}, which you do not hold / 角色 {} 含有您不具备的权限",
            role.name, role.name
        ))),
    }
}

/// Only administrators act on administrators or make them.
pub fn require_admin_for_admins(principal: &Principal, touches_admin: bool) -> Result<()> {
    if touches_admin && !principal.is_admin {
        return Err(EngineError::Forbidden(
            "only administrators manage administrators / 只有管理员可以管理管理员".into(),
        ));
    }
    Ok(())
}

/// Departments widen department-scoped rows: one who is not an administrator gives only
/// departments they belong to themselves (those the user already has may stay).
pub fn require_departments_held(
    principal: &Principal,
    already: &[String],
    given: &[String],
) -> Result<()> {
    if principal.is_admin {
        return Ok(());
    }
    match given
        .iter()
        .find(|d| !already.contains(d) && !principal.departments.contains(d))
    {
        None => Ok(()),
        Some(d) => Err(EngineError::Forbidden(format!(
            "department {d}, which you do not belong to / 您不属于科室 {d}"
        ))),
    }
}

/// Nobody but an administrator edits or deletes a role they hold.
pub fn require_not_own_role(principal: &Principal, role_held: bool, name: &str) -> Result<()> {
    if role_held && !principal.is_admin {
        return Err(EngineError::Forbidden(format!(
            "you hold role {name} and may not change it / 不能修改自己持有的角色 {name}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn role(v: serde_json::Value) -> Role {
        serde_json::from_value(v).unwrap()
    }

    fn holder(roles: &[Role]) -> Principal {
        let mut p = Principal::system();
        p.is_admin = false;
        for r in roles {
            p.permissions.extend(r.permissions.iter().cloned());
            p.rights.extend(r.rights.iter().copied());
        }
        p
    }

    #[test]
    fn a_role_manager_cannot_grant_more_than_they_hold() {
        let nurse = role(
            json!({"name": "nurse", "rights": ["roles"], "permissions": [
            {"entity": "patient", "actions": ["read", "update"], "rows": "department",
             "fields": {"id_number": "masked"}}]}),
        );
        let p = holder(std::slice::from_ref(&nurse));
        assert_eq!(missing_from(&p, &nurse), None);
        let narrower = role(json!({"name": "n2", "permissions": [
            {"entity": "patient", "actions": ["read"], "rows": "department",
             "fields": {"id_number": "hidden"}}]}));
        assert_eq!(missing_from(&p, &narrower), None);
        let cases = [
            (json!({"name": "x", "rights": ["users"]}), "right users"),
            (
                json!({"name": "x", "permissions": [{"entity": "patient", "actions": ["export"]}]}),
                "export patient",
            ),
            (
                json!({"name": "x", "permissions": [{"entity": "patient", "actions": ["read"]}]}),
                "read patient",
            ),
            (
                json!({"name": "x", "permissions": [{"entity": "patient", "actions": ["read"],
                    "rows": "department", "fields": {"id_number": "read"}}]}),
                "read patient",
            ),
            (
                json!({"name": "x", "permissions": [{"entity": "visit", "actions": ["read"]}]}),
                "read visit",
            ),
        ];
        for (wanted, missing) in cases {
            assert_eq!(
                missing_from(&p, &role(wanted.clone())).as_deref(),
                Some(missing),
                "{wanted}"
            );
        }
        assert_eq!(missing_from(&Principal::system(), &nurse), None);
    }
}
