//! Tasks as people see and finish them (docs/flows.md sections 6 and 7): the views of
//! `GET /api/v1/tasks`, completing a task, and the rules the `task` definition cannot say,
//! kept on every write of a task whatever its path.
//!
//! One's own tasks need no grant on `task`: a reader without one reads the views as if a role
//! granted `read` on `task` with no field rule, so the list machinery (and the reader's rules
//! on every other entity) shapes the answer exactly as a record list does; a reader with a
//! grant on `task` reads through it.

use super::checks::TASK_ENTITY;
use crate::access::audit::{self, AuditEntry};
use crate::access::{Action, EntityPermission, Principal, RowScope};
use crate::engine::Engine;
use crate::error::{EngineError, FieldError, Result};
use crate::forms::checks::format_datetime_utc;
use crate::i18n::Lang;
use crate::names::EntityName;
use crate::records::{lookups, rows, ListQuery, Page, Record, SortKey};
use crate::store::Arg;
use sea_query::{Alias, Expr, ExprTrait};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

/// Which tasks a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskView {
    /// Assigned to me.
    Mine,
    /// Assigned to one of my roles, about a record I may read.
    Role,
    /// Either of these, open and past due.
    Overdue,
    /// Every task, for holders of `read` on `task`.
    All,
}

impl TaskView {
    pub fn parse(s: &str) -> Option<TaskView> {
        Some(match s {
            "mine" => TaskView::Mine,
            "role" => TaskView::Role,
            "overdue" => TaskView::Overdue,
            "all" => TaskView::All,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct TaskQuery {
    pub view: TaskView,
    pub status: Option<String>,
    pub page: u64,
    pub per_page: u64,
}

/// The core entity the rules are for.
pub const TASK: &str = TASK_ENTITY;

/// The statuses a task moves through.
pub const OPEN: &str = "open";
pub const DONE: &str = "done";

fn text(plain: &Map<String, Value>, field: &str) -> Option<String> {
    plain
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The rules of a task the definition cannot say, for one document about to be stored:
/// exactly one of `assignee_user` and `assignee_role`; a `done` task with `outcomes` has one of
/// them as its `outcome`.
pub(crate) fn check_task(doc: &Map<String, Value>, lang: Lang) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let user = text(doc, "assignee_user").is_some();
    let role = text(doc, "assignee_role").is_some();
    if user == role {
        errors.push(FieldError::new(
            "assignee_user",
            "one_assignee",
            match lang {
                Lang::Zh => "负责人与负责角色须填且只填一个",
                Lang::En => "exactly one of assignee user and assigned role is needed",
            },
        ));
    }
    let outcomes: Vec<&str> = doc
        .get("outcomes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if text(doc, "status").as_deref() == Some(DONE) && !outcomes.is_empty() {
        let outcome = text(doc, "outcome");
        if !outcome.as_deref().is_some_and(|o| outcomes.contains(&o)) {
            errors.push(outcome_error(lang));
        }
    }
    errors
}

fn outcome_error(lang: Lang) -> FieldError {
    FieldError::new(
        "outcome",
        "invalid_outcome",
        match lang {
            Lang::Zh => "处理结果须为可选结果之一",
            Lang::En => "the outcome must be one of the task's outcomes",
        },
    )
}

/// A write that makes a task `done` also says when and by whom, unless it says so itself.
pub(crate) fn on_done(
    existing: &Map<String, Value>,
    data: &Map<String, Value>,
    principal: &Principal,
    now: OffsetDateTime,
) -> Option<Map<String, Value>> {
    let becomes_done = data.get("status").and_then(Value::as_str) == Some(DONE)
        && text(existing, "status").as_deref() != Some(DONE);
    if !becomes_done {
        return None;
    }
    let mut data = data.clone();
    data.entry("completed_at")
        .or_insert_with(|| json!(format_datetime_utc(now)));
    if let Some(user) = principal.user_id {
        data.entry("completed_by").or_insert_with(|| json!(user));
    }
    Some(data)
}

/// The reader's sight of tasks: as its grants on `task` say, or plain `read` without one.
fn task_reader(principal: &Principal) -> Principal {
    let mut reader = principal.clone();
    if !principal.can(TASK_ENTITY, Action::Read) {
        if let Ok(entity) = EntityName::new(TASK_ENTITY) {
            reader.permissions.push(EntityPermission {
                entity,
                actions: vec![Action::Read],
                rows: RowScope::All,
                fields: Default::default(),
            });
        }
    }
    reader
}

impl Engine {
    async fn roles_of(&self, principal: &Principal) -> Result<Vec<String>> {
        let Some(user) = principal.user_id else {
            return Ok(Vec::new());
        };
        let rows = self
            .db
            .fetch_all(
                "SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role",
                vec![Arg::from(user)],
            )
            .await?;
        rows.iter().map(|r| r.req_text("role")).collect()
    }

    /// Whether `principal` may see the task `plain` as one of theirs: assigned to them, or to
    /// one of their roles about a record they may read.
    async fn is_my_task(&self, principal: &Principal, plain: &Map<String, Value>) -> Result<bool> {
        if let (Some(me), Some(user)) = (principal.user_id, text(plain, "assignee_user")) {
            if user == me.to_string() {
                return Ok(true);
            }
        }
        let Some(role) = text(plain, "assignee_role") else {
            return Ok(false);
        };
        if !self.roles_of(principal).await?.contains(&role) {
            return Ok(false);
        }
        let subject = plain
            .get("subject")
            .and_then(|s| s.get("entity"))
            .and_then(Value::as_str);
        Ok(subject.is_none_or(|entity| principal.can(entity, Action::Read)))
    }

    /// A page of tasks in a view, due first, shown as a record list shows them.
    pub async fn list_tasks(
        &self,
        principal: &Principal,
        query: &TaskQuery,
    ) -> Result<Page<Record>> {
        let rt = self.entity(TASK_ENTITY).await?;
        let list = ListQuery {
            page: query.page,
            per_page: query.per_page,
            sort: SortKey::parse_list("due_at"),
            count: true,
            ..ListQuery::default()
        };
        let reader = if query.view == TaskView::All {
            principal.require(TASK_ENTITY, Action::Read)?;
            principal.clone()
        } else {
            task_reader(principal)
        };
        let mut plan = self.list_plan(&reader, &rt, &list).await?;
        let backend = self.db.backend();
        let column = |field: &str| -> Result<Expr> {
            let c = rt
                .field_storage(field)
                .and_then(|s| s.column().map(str::to_string))
                .ok_or_else(|| EngineError::internal(format!("task.{field} has no column")))?;
            Ok(Expr::col((Alias::new(rt.table.clone()), Alias::new(c))))
        };
        let mut condition = Expr::val(true);
        if let Some(status) = &query.status {
            condition =
                condition.and(column("status")?.eq(Arg::from(status.as_str()).into_sea(backend)));
        }
        if query.view != TaskView::All {
            let mine = match principal.user_id {
                Some(me) => {
                    column("assignee_user")?.eq(Arg::from(me.to_string()).into_sea(backend))
                }
                None => Expr::val(false),
            };
            let roles = self.roles_of(principal).await?;
            let readable: Vec<String> = self
                .catalog
                .all(&self.db)
                .await?
                .iter()
                .map(|e| e.name().to_string())
                .filter(|e| principal.can(e, Action::Read))
                .collect();
            let subject_entity = rt
                .field_storage("subject")
                .and_then(|s| s.entity_column())
                .ok_or_else(|| EngineError::internal("task.subject has no entity column"))?;
            let subject_entity =
                Expr::col((Alias::new(rt.table.clone()), Alias::new(subject_entity)));
            let role = if roles.is_empty() {
                Expr::val(false)
            } else {
                let subject_ok = if readable.is_empty() {
                    subject_entity.clone().is_null()
                } else {
                    subject_entity.clone().is_null().or(subject_entity.is_in(
                        readable
                            .iter()
                            .map(|e| Arg::from(e.as_str()).into_sea(backend)),
                    ))
                };
                column("assignee_role")?
                    .is_in(
                        roles
                            .iter()
                            .map(|r| Arg::from(r.as_str()).into_sea(backend)),
                    )
                    .and(subject_ok)
            };
            condition = condition.and(match query.view {
                TaskView::Mine => mine,
                TaskView::Role => role,
                _ => mine.or(role).and(
                    column("status")?
                        .eq(Arg::from(OPEN).into_sea(backend))
                        .and(column("due_at")?.lt(Arg::from(self.now()).into_sea(backend))),
                ),
            });
        }
        plan.select.and_where(condition.clone());
        plan.matching.and_where(condition.clone());
        plan.count.and_where(condition);
        let per_page = match list.per_page {
            0 => crate::records::DEFAULT_PER_PAGE,
            n => Ord::min(n, crate::records::MAX_PER_PAGE),
        };
        let page = Ord::max(list.page, 1);
        let mut conn = self.db.acquire().await?;
        lookups::admit(
            &mut conn.conn(),
            self.clock.as_ref(),
            &reader,
            &plan.masked_lookups,
        )
        .await?;
        let found = self
            .fetch_page(&mut conn.conn(), &plan, page, per_page)
            .await?;
        let items = found
            .iter()
            .map(|row| rows::stored_from_row(row)?.present(&rt, &reader, &self.keys, &[]))
            .collect::<Result<Vec<_>>>()?;
        let total = self
            .list_total(&mut conn.conn(), &plan, list.counting())
            .await?;
        Ok(Page {
            items,
            total: total.exact(),
            total_estimate: total.estimate(),
            page,
            per_page,
        })
    }

    /// Completes an open task: its assignee, a member of its role (who may read its subject)
    /// or a holder of `update` on `task` may; an outcome from `outcomes` when it has them.
    pub async fn complete_task(
        &self,
        principal: &Principal,
        id: Uuid,
        outcome: Option<String>,
        comment: Option<String>,
        lang: Lang,
    ) -> Result<Record> {
        let rt = self.entity(TASK_ENTITY).await?;
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        let not_found = || EngineError::not_found(format!("{TASK_ENTITY} {id}"));
        let stored = rows::load(&mut conn, &rt, id, true)
            .await?
            .filter(|s| s.deleted_at.is_none())
            .ok_or_else(not_found)?;
        let plain = crate::records::projection::unseal(&rt, &stored.sealed, &self.keys)?;
        let mine = self.is_my_task(principal, &plain).await?;
        if !mine && !principal.can(TASK_ENTITY, Action::Update) {
            return Err(if principal.can(TASK_ENTITY, Action::Read) {
                EngineError::Forbidden(format!("update {TASK_ENTITY}"))
            } else {
                not_found()
            });
        }
        if text(&plain, "status").as_deref() != Some(OPEN) {
            return Err(EngineError::Conflict(
                "任务不是待办状态 / the task is not open".into(),
            ));
        }
        let outcomes: Vec<&str> = plain
            .get("outcomes")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !outcomes.is_empty() && !outcome.as_deref().is_some_and(|o| outcomes.contains(&o)) {
            return Err(EngineError::Validation {
                details: vec![outcome_error(lang)],
            });
        }
        let mut data = Map::new();
        data.insert("status".into(), json!(DONE));
        if let Some(o) = &outcome {
            data.insert("outcome".into(), json!(o));
        }
        if let Some(c) = &comment {
            data.insert("comment".into(), json!(c));
        }
        // The completer acts as themselves: history and audit name them.
        self.apply_update(&mut conn, &rt, principal, &stored, &data, lang)
            .await?;
        audit::append(
            &mut conn,
            self.clock.as_ref(),
            &AuditEntry::new(&principal.actor, "task.complete")
                .record(TASK_ENTITY, id.to_string())
                .detail(json!({"outcome": outcome})),
        )
        .await?;
        let stored = rows::load(&mut conn, &rt, id, false)
            .await?
            .ok_or_else(not_found)?;
        tx.commit().await?;
        stored.present(&rt, &task_reader(principal), &self.keys, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn a_task_has_exactly_one_assignee() {
        let codes = |v| {
            check_task(&doc(v), Lang::En)
                .into_iter()
                .map(|e| e.code)
                .collect::<Vec<_>>()
        };
        assert!(codes(json!({"assignee_role": "nurse"})).is_empty());
        assert!(codes(json!({"assignee_user": "0193a6f2-7c1e-7b3a-9f0e-4d2c8a1b5e60"})).is_empty());
        assert_eq!(codes(json!({})), ["one_assignee"]);
        assert_eq!(codes(json!({"assignee_role": ""})), ["one_assignee"]);
        assert_eq!(
            codes(
                json!({"assignee_role": "nurse", "assignee_user": "0193a6f2-7c1e-7b3a-9f0e-4d2c8a1b5e60"})
            ),
            ["one_assignee"]
        );
    }

    #[test]
    fn a_done_task_with_outcomes_names_one_of_them() {
        let base = json!({"assignee_role": "nurse", "outcomes": ["approve", "reject"]});
        let with = |extra: Value| {
            let mut d = doc(base.clone());
            d.extend(doc(extra));
            check_task(&d, Lang::En)
                .into_iter()
                .map(|e| e.code)
                .collect::<Vec<_>>()
        };
        assert!(with(json!({"status": "open"})).is_empty());
        assert!(with(json!({"status": "done", "outcome": "approve"})).is_empty());
        assert_eq!(with(json!({"status": "done"})), ["invalid_outcome"]);
        assert_eq!(
            with(json!({"status": "done", "outcome": "maybe"})),
            ["invalid_outcome"]
        );
        let mut free = doc(json!({"assignee_role": "nurse", "status": "done"}));
        assert!(check_task(&free, Lang::En).is_empty(), "no outcomes: any");
        free.insert("outcome".into(), json!("called"));
        assert!(check_task(&free, Lang::En).is_empty());
    }
}
