//! Creating and changing entity definitions: versions, DDL under a lock, backfills, and the
//! impact preview.

use super::storage::{
    add_field_sql, composite_indexes, create_table_sql, index_sql, q, table_name, FieldStorage,
    StorageKind,
};
use super::EntityRuntime;
use crate::access::{Action, Principal, SystemRight};
use crate::engine::Engine;
use crate::error::{EngineError, FieldError, Result};
use crate::forms::messages::definition_summary;
use crate::forms::{CompiledEntity, EntityDefinition, FieldType};
use crate::i18n::Lang;
use crate::records::projection;
use crate::store::{Arg, Backend, Tx};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// One key for every run-time DDL statement (sqlx's migrator holds another).
const ENTITY_DDL_LOCK: i64 = 0x6b64_0001;
const BACKFILL_BATCH: i64 = 500;
const IMPACT_EXAMPLES: usize = 5;
/// Tries of a DDL transaction that met a lock timeout before answering 409.
pub(super) const DDL_ATTEMPTS: u32 = 3;

/// Whether a definition must be new (`POST /entities`), must exist (`PUT`), or may be either
/// (a batch; a check that names neither).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefinitionIntent {
    Create,
    Replace,
    Either,
}

struct DefinitionRequest {
    body: Value,
    if_match: Option<i64>,
    intent: DefinitionIntent,
}

/// What a definition change does (or, in a dry run, would do) to the entities it names.
#[derive(Debug, Clone, Serialize)]
pub struct DefinitionChanges {
    pub dry_run: bool,
    pub entities: Vec<EntityChange>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Created,
    Changed,
    Unchanged,
}

/// One entity's part of a definition change.
#[derive(Debug, Clone, Serialize)]
pub struct EntityChange {
    pub name: String,
    pub change: ChangeKind,
    /// The version after the change.
    pub version: i64,
    pub fields_added: Vec<String>,
    /// Fields removed earlier and back now, with their column and data.
    pub fields_restored: Vec<String>,
    /// Fields that get an ordinary index.
    pub indexes_added: Vec<String>,
    pub unique_added: Vec<String>,
    pub unique_dropped: Vec<String>,
    /// Unique indexes built after the commit, on a table that holds rows (`CONCURRENTLY` on
    /// PostgreSQL); the field is unique-pending until then.
    pub unique_pending: Vec<String>,
    /// Stored records the new definition would invalidate (dry runs only).
    pub impact: Impact,
}

/// What saving a definition would do, found without saving it: the answer of a compile-only
/// check (`Engine::check_definition`).
#[derive(Debug, Clone, Serialize)]
pub struct DefinitionCheck {
    /// Always true: a definition that would not save is an error instead.
    pub ok: bool,
    pub name: String,
    pub change: ChangeKind,
    /// The version saving it would make (the current one when unchanged).
    pub version: i64,
    pub fields_added: Vec<String>,
    pub fields_restored: Vec<String>,
    pub indexes_added: Vec<String>,
    pub unique_added: Vec<String>,
    pub unique_dropped: Vec<String>,
    /// The JSON Schema (2020-12) the definition compiles to.
    pub schema: Value,
}

/// A definition parsed, checked and planned against the entity as it stands.
struct Staged {
    name: String,
    compiled: CompiledEntity,
    /// The entity as planned against; none for a new one.
    base: Option<std::sync::Arc<EntityRuntime>>,
    plan: ChangePlan,
    unchanged: bool,
    /// Whether the entity's table holds rows (deciding which unique indexes wait).
    holds_rows: bool,
}

impl Staged {
    fn describe(&self, impact: Impact) -> EntityChange {
        let holds_rows = self.holds_rows;
        let names = |list: &[FieldStorage]| list.iter().map(|f| f.field.clone()).collect();
        let mut change = EntityChange {
            name: self.name.clone(),
            change: match (&self.base, self.unchanged) {
                (None, _) => ChangeKind::Created,
                (Some(_), true) => ChangeKind::Unchanged,
                (Some(_), false) => ChangeKind::Changed,
            },
            version: match &self.base {
                None => 1,
                Some(rt) if self.unchanged => rt.version,
                Some(rt) => rt.version + 1,
            },
            fields_added: names(&self.plan.new_fields),
            fields_restored: names(&self.plan.reactivated),
            indexes_added: Vec::new(),
            unique_added: Vec::new(),
            unique_dropped: Vec::new(),
            unique_pending: Vec::new(),
            impact,
        };
        let new_fields = self.plan.new_fields.iter();
        let changed = self.plan.index_changes.iter().map(|c| &c.create);
        for fs in new_fields.chain(changed) {
            if fs.plain_index.is_some() {
                change.indexes_added.push(fs.field.clone());
            }
            if fs.unique_index.is_some() {
                change.unique_added.push(fs.field.clone());
                if holds_rows {
                    change.unique_pending.push(fs.field.clone());
                }
            }
        }
        for c in self.plan.index_changes.iter().filter(|c| c.drop.is_some()) {
            change.unique_dropped.push(c.create.field.clone());
        }
        change
    }
}

/// Takes the `version` a GET answered out of a definition body: the caller's precondition.
fn take_version(body: Value, lang: Lang) -> Result<(Value, Option<i64>)> {
    let Value::Object(mut map) = body else {
        return Ok((body, None));
    };
    let version = match map.remove("version") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().filter(|v| *v >= 0).ok_or_else(|| {
            EngineError::bad_request(lang.pick(
                "version 必须是非负整数",
                "version must be a non-negative integer",
            ))
        })?),
    };
    Ok((Value::Object(map), version))
}

/// PostgreSQL's `lock_timeout` (55P03) or SQLite's busy timeout: the table is in use.
pub(super) fn is_lock_timeout(e: &EngineError) -> bool {
    match e {
        EngineError::Storage(sqlx::Error::Database(d)) => {
            matches!(d.code().as_deref(), Some("55P03") | Some("5") | Some("517"))
        }
        _ => false,
    }
}

/// Refuses to make a field unique while live records share a value (409 naming it).
async fn refuse_shared_values(tx: &mut Tx, rt: &EntityRuntime, fs: &FieldStorage) -> Result<()> {
    let Some(column) = fs.column() else {
        return Ok(());
    };
    let shared = tx
        .fetch_optional(
            &format!(
                "SELECT {c} AS v FROM {t} WHERE \"deleted_at\" IS NULL AND {c} IS NOT NULL \
                 GROUP BY {c} HAVING COUNT(*) > 1 LIMIT 1",
                c = q(column),
                t = q(&rt.table)
            ),
            vec![],
        )
        .await?;
    if shared.is_some() {
        return Err(EngineError::UniqueViolation {
            field: fs.field.clone(),
        });
    }
    Ok(())
}

/// A definition with its version, as `GET /entities/{e}` answers.
#[derive(Debug, Clone, Serialize)]
pub struct EntityInfo {
    #[serde(flatten)]
    pub definition: EntityDefinition,
    pub version: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImpactExample {
    pub id: String,
    pub errors: Vec<FieldError>,
}

/// What a new definition would do to the records already stored.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Impact {
    pub invalid_records: u64,
    pub examples: Vec<ImpactExample>,
    pub checked_records: u64,
}

fn parse_definition(body: Value, lang: Lang) -> Result<EntityDefinition> {
    serde_json::from_value(body).map_err(|e| EngineError::BadRequest {
        message: match lang {
            Lang::Zh => format!("实体定义格式不正确：{e}"),
            Lang::En => format!("The entity definition is malformed: {e}"),
        },
        details: Vec::new(),
    })
}

pub(super) async fn lock_ddl(tx: &mut Tx) -> Result<()> {
    if tx.backend() == Backend::Postgres {
        tx.execute(
            "SELECT pg_advisory_xact_lock($1)",
            vec![ENTITY_DDL_LOCK.into()],
        )
        .await?;
        // Adding a column needs a brief exclusive lock; do not queue behind long readers.
        tx.execute("SET LOCAL lock_timeout = '2s'", vec![]).await?;
    }
    Ok(())
}

/// Every problem with a definition, in one 400.
fn definition_errors(details: Vec<FieldError>, lang: Lang) -> EngineError {
    EngineError::BadRequest {
        message: definition_summary(details.len(), lang),
        details,
    }
}

/// The value of a check that may fail with a definition's per-field problems: those go to
/// `details` (so they are answered with every other problem), any other error stops here.
fn collect_problems<T>(outcome: Result<T>, details: &mut Vec<FieldError>) -> Result<Option<T>> {
    match outcome {
        Ok(value) => Ok(Some(value)),
        Err(EngineError::BadRequest {
            details: problems,
            message,
        }) => {
            if problems.is_empty() {
                return Err(EngineError::BadRequest {
                    message,
                    details: problems,
                });
            }
            details.extend(problems);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// References (and a subject's `entities`) must name existing entities, one of the same
/// batch, or the entity itself.
fn reference_problems(def: &EntityDefinition, known: &[String], lang: Lang) -> Vec<FieldError> {
    let mut out = Vec::new();
    for (i, f) in def.fields.iter().enumerate() {
        let targets = f
            .entity
            .iter()
            .map(|t| (format!("fields.{i}.entity"), t))
            .chain(
                f.entities
                    .iter()
                    .map(|t| (format!("fields.{i}.entities"), t)),
            );
        for (path, target) in targets {
            let ok = target == &def.name || known.iter().any(|k| k == target.as_str());
            if !ok {
                out.push(FieldError::new(
                    path,
                    "unknown_entity",
                    match lang {
                        Lang::Zh => format!("引用的实体 {target} 不存在"),
                        Lang::En => format!("The referenced entity {target} does not exist"),
                    },
                ));
            }
        }
    }
    out
}

/// `visible_if` and `readonly_if` are filters over the record itself: they must parse, name
/// fields of the definition and use known operators, so the server and the browser can
/// evaluate one rule.
fn field_rule_problems(def: &EntityDefinition, lang: Lang) -> Vec<FieldError> {
    use crate::query::FilterExpr;
    let mut details = Vec::new();
    for (i, field) in def.fields.iter().enumerate() {
        for (key, rule) in [
            ("visible_if", &field.visible_if),
            ("readonly_if", &field.readonly_if),
        ] {
            let Some(rule) = rule else { continue };
            let path = format!("fields.{i}.{key}");
            let problem = match FilterExpr::parse(rule.clone()) {
                Err(_) => Some(
                    lang.pick("条件格式不正确", "The rule is not a filter")
                        .to_string(),
                ),
                Ok(filter)
                    if !filter.related_entities().is_empty() || !filter.segments().is_empty() =>
                {
                    Some(
                        lang.pick(
                            "条件只能引用本记录的字段",
                            "A rule may only test this record's fields",
                        )
                        .to_string(),
                    )
                }
                Ok(filter) => filter.conditions().into_iter().find_map(|(name, _)| {
                    def.field(name).is_none().then(|| match lang {
                        Lang::Zh => format!("条件引用了不存在的字段 {name}"),
                        Lang::En => format!("The rule names an unknown field {name}"),
                    })
                }),
            };
            if let Some(message) = problem {
                details.push(FieldError::new(path, "invalid_rule", message));
            }
        }
    }
    details
}

impl Engine {
    pub async fn list_entities(&self, principal: &Principal) -> Result<Vec<EntityInfo>> {
        Ok(self
            .catalog
            .all(&self.db)
            .await?
            .into_iter()
            .filter(|rt| {
                principal.can(rt.name(), Action::Read) || principal.can(rt.name(), Action::Design)
            })
            .map(|rt| EntityInfo {
                definition: rt.definition().clone(),
                version: rt.version,
            })
            .collect())
    }

    pub async fn entity(&self, name: &str) -> Result<std::sync::Arc<EntityRuntime>> {
        self.catalog.get(&self.db, name).await
    }

    pub async fn get_entity(&self, principal: &Principal, name: &str) -> Result<EntityInfo> {
        let rt = self.entity(name).await?;
        if !principal.can(name, Action::Read) && !principal.can(name, Action::Design) {
            return Err(EngineError::not_found(format!("entity {name}")));
        }
        Ok(EntityInfo {
            definition: rt.definition().clone(),
            version: rt.version,
        })
    }

    pub async fn entity_schema(&self, principal: &Principal, name: &str) -> Result<Value> {
        let rt = self.entity(name).await?;
        if !principal.can(name, Action::Read) && !principal.can(name, Action::Design) {
            return Err(EngineError::not_found(format!("entity {name}")));
        }
        Ok(rt.compiled.json_schema().clone())
    }

    pub async fn create_entity(
        &self,
        principal: &Principal,
        body: Value,
        lang: Lang,
    ) -> Result<EntityInfo> {
        let request = DefinitionRequest {
            body,
            if_match: None,
            intent: DefinitionIntent::Create,
        };
        let changes = self
            .change_definitions(principal, vec![request], false, lang)
            .await?;
        let name = changes
            .entities
            .first()
            .map(|c| c.name.clone())
            .ok_or_else(|| EngineError::internal("a definition change answered no entity"))?;
        self.get_entity(&Principal::system(), &name).await
    }

    /// Applies a new definition as it stands (no precondition beyond the version this server
    /// knew when the request came in). See [`Engine::update_entity_if`].
    pub async fn update_entity(
        &self,
        principal: &Principal,
        name: &str,
        body: Value,
        lang: Lang,
    ) -> Result<EntityInfo> {
        self.update_entity_if(principal, name, body, None, lang)
            .await
    }

    /// Applies a new definition. `if_match` (or a `version` in the body) is the version the
    /// caller read: a stale one is a 409. Without either, the version current when the request
    /// arrived is the precondition, checked under the DDL lock, so concurrent changes either
    /// land or get a 409 — none is lost silently. An unchanged definition makes no new version.
    /// New fields get a column and a backfill from the stored documents, with no version bump,
    /// no history and no events; removed fields are hidden and keep their column.
    pub async fn update_entity_if(
        &self,
        principal: &Principal,
        name: &str,
        body: Value,
        if_match: Option<i64>,
        lang: Lang,
    ) -> Result<EntityInfo> {
        let named = body.get("name").and_then(Value::as_str);
        if named.is_some_and(|n| n != name) {
            return Err(EngineError::bad_request(
                lang.pick("实体名称不可修改", "An entity's name cannot change"),
            ));
        }
        let request = DefinitionRequest {
            body,
            if_match,
            intent: DefinitionIntent::Replace,
        };
        self.change_definitions(principal, vec![request], false, lang)
            .await?;
        self.get_entity(&Principal::system(), name).await
    }

    /// Checks a definition as saving it would — parsed, compiled, its field rules, references
    /// and layout, the change it makes to the stored entity, the caller's right (`design`, or
    /// `new_entity` for a new one) and the version precondition (`if_match` or the body's
    /// `version`) — and answers what saving would do, with the compiled JSON Schema. Every
    /// problem comes back at once, as the 400 saving would give. Nothing is written, no DDL
    /// runs and stored records are not read (the impact preview does that), so the designer
    /// may call it as staff type. It plans against the cached definitions (at most a couple of
    /// seconds old); saving checks again under the DDL lock.
    pub async fn check_definition(
        &self,
        principal: &Principal,
        body: Value,
        intent: DefinitionIntent,
        if_match: Option<i64>,
        lang: Lang,
    ) -> Result<DefinitionCheck> {
        let request = DefinitionRequest {
            body,
            if_match,
            intent,
        };
        let staged = self.stage(principal, vec![request], lang).await?;
        let item = staged
            .first()
            .ok_or_else(|| EngineError::internal("a definition check staged nothing"))?;
        let change = item.describe(Impact::default());
        Ok(DefinitionCheck {
            ok: true,
            name: change.name,
            change: change.change,
            version: change.version,
            fields_added: change.fields_added,
            fields_restored: change.fields_restored,
            indexes_added: change.indexes_added,
            unique_added: change.unique_added,
            unique_dropped: change.unique_dropped,
            schema: item.compiled.json_schema().clone(),
        })
    }

    /// Installs or changes several entities at once — what a pack installer calls. Every
    /// definition, its metadata and its DDL go in one transaction (references between them in
    /// either order); a failure leaves nothing applied. With `dry_run` nothing is written and
    /// the answer is the change plan with each entity's impact on its stored records.
    pub async fn apply_definitions(
        &self,
        principal: &Principal,
        definitions: Vec<Value>,
        dry_run: bool,
        lang: Lang,
    ) -> Result<DefinitionChanges> {
        let requests = definitions
            .into_iter()
            .map(|body| DefinitionRequest {
                body,
                if_match: None,
                intent: DefinitionIntent::Either,
            })
            .collect();
        self.change_definitions(principal, requests, dry_run, lang)
            .await
    }

    async fn change_definitions(
        &self,
        principal: &Principal,
        requests: Vec<DefinitionRequest>,
        dry_run: bool,
        lang: Lang,
    ) -> Result<DefinitionChanges> {
        if requests.is_empty() {
            return Err(EngineError::bad_request(lang.pick(
                "至少需要一个实体定义",
                "At least one entity definition is needed",
            )));
        }
        // Plan against what the database holds now, not a cache a few seconds old.
        self.catalog.reload(&self.db).await?;
        let staged = self.stage(principal, requests, lang).await?;
        let mut changes = DefinitionChanges {
            dry_run,
            entities: Vec::with_capacity(staged.len()),
        };
        for item in &staged {
            let impact = match (&item.base, dry_run && !item.unchanged) {
                (Some(rt), true) => self.impact_of(rt, &item.compiled, lang).await?,
                _ => Impact::default(),
            };
            changes.entities.push(item.describe(impact));
        }
        if dry_run || staged.iter().all(|s| s.unchanged) {
            return Ok(changes);
        }
        let mut attempt = 1;
        loop {
            match self.apply_staged(principal, &staged, lang).await {
                // SQLite's busy timeout has already waited long: no second try there.
                Err(e)
                    if is_lock_timeout(&e)
                        && attempt < DDL_ATTEMPTS
                        && self.db.backend() == Backend::Postgres =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(200 * attempt as u64))
                        .await;
                    attempt += 1;
                }
                Err(e) if is_lock_timeout(&e) => {
                    return Err(EngineError::Conflict(
                        lang.pick(
                            "实体表正被其他操作占用，请稍后重试",
                            "The entity's table is busy with other work; try again shortly",
                        )
                        .into(),
                    ))
                }
                other => {
                    other?;
                    break;
                }
            }
        }
        self.catalog.reload(&self.db).await?;
        for name in staged.iter().filter(|s| !s.unchanged).map(|s| &s.name) {
            self.finish_definition_work(name, lang).await?;
        }
        Ok(changes)
    }

    /// Parses and checks every definition of a change, and plans what each does. Each
    /// definition's problems — what it compiles to, its field rules, its references, and what
    /// changing the stored entity allows — come back at once, in one 400.
    async fn stage(
        &self,
        principal: &Principal,
        requests: Vec<DefinitionRequest>,
        lang: Lang,
    ) -> Result<Vec<Staged>> {
        // Parsed first, so each definition's references may name any entity of the batch.
        let mut parsed: Vec<(EntityDefinition, Option<i64>, DefinitionRequest)> =
            Vec::with_capacity(requests.len());
        for (i, mut request) in requests.into_iter().enumerate() {
            let (body, body_version) = take_version(std::mem::take(&mut request.body), lang)?;
            let def = parse_definition(body, lang)?;
            if parsed.iter().any(|(other, ..)| other.name == def.name) {
                return Err(EngineError::BadRequest {
                    message: lang
                        .pick(
                            "同一实体在批次中出现了两次",
                            "An entity appears twice in the batch",
                        )
                        .into(),
                    details: vec![FieldError::new(
                        format!("entities.{i}.name"),
                        "duplicate",
                        def.name.to_string(),
                    )],
                });
            }
            parsed.push((def, body_version, request));
        }
        let known: Vec<String> = self
            .catalog
            .all(&self.db)
            .await?
            .iter()
            .map(|rt| rt.name().to_string())
            .chain(parsed.iter().map(|(def, ..)| def.name.to_string()))
            .collect();
        let mut staged: Vec<Staged> = Vec::with_capacity(parsed.len());
        for (def, body_version, request) in parsed {
            let name = def.name.to_string();
            let base = match self.entity(&name).await {
                Ok(rt) => Some(rt),
                Err(EngineError::NotFound { .. }) => None,
                Err(e) => return Err(e),
            };
            match (&base, request.intent) {
                (Some(_), DefinitionIntent::Create) => {
                    return Err(EngineError::Conflict(match lang {
                        Lang::Zh => format!("实体 {name} 已存在"),
                        Lang::En => format!("The entity {name} already exists"),
                    }))
                }
                (None, DefinitionIntent::Replace) => {
                    return Err(EngineError::not_found(format!("entity {name}")))
                }
                (Some(_), _) => principal.require(&name, Action::Design)?,
                (None, _) => principal.require_right(SystemRight::NewEntity)?,
            }
            // A new entity has nothing to be stale against: a `version` carried over from
            // another installation is ignored (If-Match is only taken by a replace).
            let body_version = body_version.filter(|_| base.is_some());
            let expected = match (request.if_match, body_version) {
                (Some(a), Some(b)) if a != b => {
                    return Err(EngineError::VersionConflict {
                        current: base.as_ref().map_or(0, |rt| rt.version),
                    })
                }
                (a, b) => a.or(b),
            };
            if let Some(expected) = expected {
                let current = base.as_ref().map_or(0, |rt| rt.version);
                if expected != current {
                    return Err(EngineError::VersionConflict { current });
                }
            }
            let mut details = Vec::new();
            let compiled =
                collect_problems(CompiledEntity::compile(def.clone(), lang), &mut details)?;
            details.extend(field_rule_problems(&def, lang));
            details.extend(reference_problems(&def, &known, lang));
            if base.is_some() {
                details.extend(crate::packs::core_field_problems(&def, lang));
            }
            let plan = match &base {
                Some(rt) => collect_problems(plan_change(rt, &def, lang), &mut details)?,
                None => Some(ChangePlan {
                    new_fields: def
                        .fields
                        .iter()
                        .map(|f| FieldStorage::for_field(&name, f))
                        .collect(),
                    reactivated: Vec::new(),
                    index_changes: Vec::new(),
                }),
            };
            let (Some(compiled), Some(plan)) = (compiled, plan) else {
                return Err(definition_errors(details, lang));
            };
            if !details.is_empty() {
                return Err(definition_errors(details, lang));
            }
            let unchanged = base.as_ref().is_some_and(|rt| {
                rt.definition() == compiled.definition()
                    && plan.new_fields.is_empty()
                    && plan.reactivated.is_empty()
                    && plan.index_changes.is_empty()
            });
            let holds_rows = match &base {
                Some(rt) => self
                    .db
                    .fetch_optional(
                        &format!("SELECT \"id\" FROM {} LIMIT 1", q(&rt.table)),
                        vec![],
                    )
                    .await?
                    .is_some(),
                None => false,
            };
            staged.push(Staged {
                name,
                compiled,
                base,
                plan,
                unchanged,
                holds_rows,
            });
        }
        Ok(staged)
    }

    /// One transaction for every staged definition: versions checked under the DDL lock,
    /// tables, columns, side tables and indexes, versions and audit.
    async fn apply_staged(
        &self,
        principal: &Principal,
        staged: &[Staged],
        lang: Lang,
    ) -> Result<()> {
        let backend = self.db.backend();
        let now = self.now();
        let mut tx = self.db.begin().await?;
        lock_ddl(&mut tx).await?;
        for item in staged.iter().filter(|s| !s.unchanged) {
            let name = item.name.as_str();
            let current = tx
                .fetch_optional(
                    "SELECT version FROM entities WHERE name = $1",
                    vec![name.into()],
                )
                .await?
                .map(|row| row.req_int("version"))
                .transpose()?;
            let definition_json =
                serde_json::to_value(item.compiled.definition()).map_err(EngineError::internal)?;
            let Some(base) = &item.base else {
                if current.is_some() {
                    return Err(EngineError::Conflict(match lang {
                        Lang::Zh => format!("实体 {name} 已存在"),
                        Lang::En => format!("The entity {name} already exists"),
                    }));
                }
                insert_version(
                    &mut tx,
                    name,
                    1,
                    &definition_json,
                    &principal.actor,
                    now,
                    true,
                )
                .await?;
                for sql in create_table_sql(name, backend) {
                    tx.execute(&sql, vec![]).await?;
                }
                for fs in &item.plan.new_fields {
                    for sql in add_field_sql(name, fs, backend) {
                        tx.execute(&sql, vec![]).await?;
                    }
                    insert_field_storage(&mut tx, name, fs, 1, true, false).await?;
                }
                for ix in composite_indexes(name, &item.plan.new_fields) {
                    tx.execute(&ix.create_sql(&table_name(name), backend, false), vec![])
                        .await?;
                }
                crate::access::audit::append(
                    &mut tx.conn(),
                    self.clock.as_ref(),
                    &crate::access::audit::AuditEntry::new(&principal.actor, "entity.create")
                        .entity(name),
                )
                .await?;
                continue;
            };
            // Another change landed since this one was planned: it is stale.
            let current =
                current.ok_or_else(|| EngineError::not_found(format!("entity {name}")))?;
            if current != base.version {
                return Err(EngineError::VersionConflict { current });
            }
            let version = current + 1;
            let holds_rows = tx
                .fetch_optional(
                    &format!("SELECT \"id\" FROM {} LIMIT 1", q(&base.table)),
                    vec![],
                )
                .await?
                .is_some();
            for fs in &item.plan.new_fields {
                // A unique index on a table holding rows waits for the backfill and is then
                // built outside this transaction (CONCURRENTLY on PostgreSQL).
                let deferred = holds_rows && fs.unique_index.is_some();
                let mut now_built = fs.clone();
                if deferred {
                    now_built.unique_index = None;
                }
                for sql in add_field_sql(name, &now_built, backend) {
                    tx.execute(&sql, vec![]).await?;
                }
                let needs_backfill = holds_rows && !matches!(fs.kind, StorageKind::DocumentOnly);
                insert_field_storage(&mut tx, name, fs, version, !needs_backfill, deferred).await?;
            }
            if holds_rows {
                for fs in &item.plan.reactivated {
                    tx.execute(
                        "UPDATE entity_fields SET backfilled = $1 WHERE entity = $2 AND field = $3",
                        vec![false.into(), name.into(), fs.field.clone().into()],
                    )
                    .await?;
                }
            }
            for change in &item.plan.index_changes {
                let fs = &change.create;
                if let Some(index) = &change.drop {
                    tx.execute(&format!("DROP INDEX IF EXISTS {}", q(index)), vec![])
                        .await?;
                }
                let deferred = holds_rows && fs.unique_index.is_some();
                if deferred {
                    refuse_shared_values(&mut tx, base, fs).await?;
                }
                let mut now_built = fs.clone();
                if deferred {
                    now_built.unique_index = None;
                }
                for sql in index_sql(name, &now_built, backend) {
                    tx.execute(&sql, vec![]).await.map_err(|e| match e {
                        EngineError::Storage(ref db) if is_unique_violation(db) => {
                            EngineError::UniqueViolation {
                                field: fs.field.clone(),
                            }
                        }
                        other => other,
                    })?;
                }
                tx.execute(
                    "UPDATE entity_fields SET unique_index = $1, plain_index = $2, unique_pending = $3 \
                     WHERE entity = $4 AND field = $5",
                    vec![
                        change.unique_index.clone().into(),
                        change.plain_index.clone().into(),
                        deferred.into(),
                        name.into(),
                        fs.field.clone().into(),
                    ],
                )
                .await?;
            }
            // The composite indexes of the new definition's fields (existing ones stay).
            let mut layout = base.storage.clone();
            for fs in &item.plan.new_fields {
                layout.insert(fs.field.clone(), fs.clone());
            }
            for change in &item.plan.index_changes {
                if let Some(fs) = layout.get_mut(&change.create.field) {
                    fs.unique_index = change.unique_index.clone();
                    fs.plain_index = change.plain_index.clone();
                }
            }
            let fields = item
                .compiled
                .definition()
                .fields
                .iter()
                .filter_map(|f| layout.get(f.name.as_str()));
            for ix in composite_indexes(name, fields) {
                tx.execute(&ix.create_sql(&base.table, backend, false), vec![])
                    .await?;
            }
            insert_version(
                &mut tx,
                name,
                version,
                &definition_json,
                &principal.actor,
                now,
                false,
            )
            .await?;
            crate::access::audit::append(
                &mut tx.conn(),
                self.clock.as_ref(),
                &crate::access::audit::AuditEntry::new(&principal.actor, "entity.update")
                    .entity(name)
                    .fields(
                        item.plan
                            .new_fields
                            .iter()
                            .map(|f| f.field.clone())
                            .collect(),
                    ),
            )
            .await?;
        }
        tx.commit().await
    }

    /// Resumes what definition changes left to do after their transaction, for every entity:
    /// backfills marked pending and unique indexes still to build. Called at start-up, so an
    /// interrupted change finishes.
    pub async fn resume_definition_work(&self) -> Result<()> {
        let rows = self
            .db
            .fetch_all(
                "SELECT DISTINCT entity FROM entity_fields WHERE backfilled = $1 OR unique_pending = $2",
                vec![false.into(), true.into()],
            )
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        self.catalog.reload(&self.db).await?;
        for row in rows {
            let entity = row.req_text("entity")?;
            if let Err(e) = self.finish_definition_work(&entity, Lang::En).await {
                tracing::warn!(entity = %entity, error = %e, "unfinished definition work failed");
            }
        }
        Ok(())
    }

    /// Backfills one entity's pending fields, then builds its pending unique indexes.
    pub(super) async fn finish_definition_work(&self, name: &str, lang: Lang) -> Result<()> {
        let rt = self.entity(name).await?;
        let pending = self
            .db
            .fetch_all(
                "SELECT field, backfilled, unique_pending FROM entity_fields WHERE entity = $1 \
                 AND (backfilled = $2 OR unique_pending = $3) ORDER BY field",
                vec![name.into(), false.into(), true.into()],
            )
            .await?;
        let mut to_fill = Vec::new();
        let mut to_index = Vec::new();
        for row in &pending {
            let field = row.req_text("field")?;
            let Some(fs) = rt.storage.get(&field) else {
                continue;
            };
            if !row.bool("backfilled")?.unwrap_or(true) {
                to_fill.push(fs.clone());
            }
            if row.bool("unique_pending")?.unwrap_or(false) {
                to_index.push(fs.clone());
            }
        }
        if !to_fill.is_empty() {
            self.backfill(&rt, &to_fill).await?;
        }
        let mut failure = None;
        for fs in &to_index {
            if let Err(e) = self.build_unique_index(&rt, fs, lang).await {
                failure.get_or_insert(e);
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// Fills fields' projections from the stored documents, in batches; records' versions,
    /// history and events are untouched. Each batch is read and written in one transaction with
    /// its rows locked, so a concurrent write's projection is never overwritten with older
    /// values. Then the fields are marked filled; an interrupted backfill starts again.
    async fn backfill(&self, rt: &EntityRuntime, fields: &[FieldStorage]) -> Result<()> {
        let writer = projection::ProjectionWriter::only(rt, &self.keys, fields);
        let table = q(&rt.table);
        let lock = match self.db.backend() {
            Backend::Postgres => " FOR UPDATE",
            // A SQLite write transaction already holds the database's one write lock.
            Backend::Sqlite => "",
        };
        let mut after: Option<uuid::Uuid> = None;
        let mut filled = 0;
        loop {
            let mut tx = self.db.begin().await?;
            let rows = match after {
                None => {
                    tx.fetch_all(
                        &format!("SELECT id, data FROM {table} ORDER BY id LIMIT $1{lock}"),
                        vec![BACKFILL_BATCH.into()],
                    )
                    .await?
                }
                Some(last) => {
                    tx.fetch_all(
                        &format!(
                            "SELECT id, data FROM {table} WHERE id > $1 ORDER BY id LIMIT $2{lock}"
                        ),
                        vec![last.into(), BACKFILL_BATCH.into()],
                    )
                    .await?
                }
            };
            for row in &rows {
                let id = row.req_uuid("id")?;
                let sealed = as_object(row.req_json("data")?);
                // A document without these fields has nothing to project: a new field's column
                // is empty, and a removed field's document keeps the keys its column mirrors.
                if !fields.iter().any(|fs| sealed.contains_key(&fs.field)) {
                    continue;
                }
                let plain = projection::unseal(rt, &sealed, &self.keys)?;
                writer.rewrite(&mut tx.conn(), id, &plain).await?;
            }
            tx.commit().await?;
            // Every row scanned gained values or a new empty column: both change statistics.
            filled += rows.len();
            after = rows.last().map(|r| r.req_uuid("id")).transpose()?;
            if (rows.len() as i64) < BACKFILL_BATCH {
                break;
            }
        }
        for fs in fields {
            self.db
                .execute(
                    "UPDATE entity_fields SET backfilled = $1 WHERE entity = $2 AND field = $3",
                    vec![true.into(), rt.name().into(), fs.field.clone().into()],
                )
                .await?;
        }
        self.refresh_statistics(rt, filled).await;
        Ok(())
    }

    /// Builds a pending unique index outside any transaction — `CONCURRENTLY` on PostgreSQL,
    /// so writes go on meanwhile — after dropping an invalid leftover of an interrupted build.
    /// Values shared by live records abandon the index: the field stops being unique (a new
    /// definition version) and the caller gets a 409 naming it.
    async fn build_unique_index(
        &self,
        rt: &EntityRuntime,
        fs: &FieldStorage,
        lang: Lang,
    ) -> Result<()> {
        let (Some(index), Some(column)) = (fs.unique_index.as_deref(), fs.column()) else {
            return self.clear_unique_pending(rt.name(), &fs.field).await;
        };
        let pg = self.db.backend() == Backend::Postgres;
        let concurrently = if pg { " CONCURRENTLY" } else { "" };
        if pg {
            let leftover = self
                .db
                .fetch_optional(
                    "SELECT i.indisvalid AS valid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid \
                     WHERE c.relname = $1 AND c.relkind = 'i'",
                    vec![index.into()],
                )
                .await?;
            match leftover.map(|row| row.bool("valid")).transpose()?.flatten() {
                Some(true) => return self.clear_unique_pending(rt.name(), &fs.field).await,
                Some(false) => {
                    self.db
                        .execute(
                            &format!("DROP INDEX CONCURRENTLY IF EXISTS {}", q(index)),
                            vec![],
                        )
                        .await?;
                }
                None => {}
            }
        }
        let built = self
            .db
            .execute(
                &format!(
                    "CREATE UNIQUE INDEX{concurrently} IF NOT EXISTS {} ON {} ({}) WHERE \"deleted_at\" IS NULL",
                    q(index),
                    q(&rt.table),
                    q(column)
                ),
                vec![],
            )
            .await;
        match built {
            Ok(_) => self.clear_unique_pending(rt.name(), &fs.field).await,
            Err(EngineError::Storage(ref db)) if is_unique_violation(db) => {
                self.db
                    .execute(
                        &format!("DROP INDEX{concurrently} IF EXISTS {}", q(index)),
                        vec![],
                    )
                    .await?;
                self.abandon_unique(rt.name(), &fs.field, lang).await?;
                Err(EngineError::UniqueViolation {
                    field: fs.field.clone(),
                })
            }
            Err(e) => Err(e),
        }
    }

    async fn clear_unique_pending(&self, entity: &str, field: &str) -> Result<()> {
        self.db
            .execute(
                "UPDATE entity_fields SET unique_pending = $1 WHERE entity = $2 AND field = $3",
                vec![false.into(), entity.into(), field.into()],
            )
            .await?;
        Ok(())
    }

    /// A unique index could not be built: the field is no longer unique, in a new version.
    async fn abandon_unique(&self, entity: &str, field: &str, _lang: Lang) -> Result<()> {
        let mut tx = self.db.begin().await?;
        lock_ddl(&mut tx).await?;
        let row = tx
            .fetch_one(
                "SELECT version, definition FROM entities WHERE name = $1",
                vec![entity.into()],
            )
            .await?;
        let version = row.req_int("version")? + 1;
        let mut def: EntityDefinition =
            serde_json::from_value(row.req_json("definition")?).map_err(EngineError::internal)?;
        for f in def.fields.iter_mut().filter(|f| f.name.as_str() == field) {
            f.unique = false;
        }
        let definition_json = serde_json::to_value(&def).map_err(EngineError::internal)?;
        insert_version(
            &mut tx,
            entity,
            version,
            &definition_json,
            "system",
            self.now(),
            false,
        )
        .await?;
        tx.execute(
            "UPDATE entity_fields SET unique_index = NULL, unique_pending = $1 WHERE entity = $2 AND field = $3",
            vec![false.into(), entity.into(), field.into()],
        )
        .await?;
        crate::access::audit::append(
            &mut tx.conn(),
            self.clock.as_ref(),
            &crate::access::audit::AuditEntry::new("system", "entity.unique_abandoned")
                .entity(entity)
                .fields(vec![field.to_string()]),
        )
        .await?;
        tx.commit().await?;
        self.catalog.reload(&self.db).await
    }

    /// How many stored records a new definition would invalidate, with examples.
    pub async fn entity_impact(
        &self,
        principal: &Principal,
        name: &str,
        body: Value,
        lang: Lang,
    ) -> Result<Impact> {
        let rt = self.entity(name).await?;
        principal.require(name, Action::Design)?;
        let (body, _) = take_version(body, lang)?;
        let def = parse_definition(body, lang)?;
        let compiled = CompiledEntity::compile(def, lang)?;
        self.impact_of(&rt, &compiled, lang).await
    }

    /// Checks every live record against a compiled definition.
    async fn impact_of(
        &self,
        rt: &EntityRuntime,
        compiled: &CompiledEntity,
        lang: Lang,
    ) -> Result<Impact> {
        let ctx = self.prepare_context(lang);
        let mut impact = Impact {
            invalid_records: 0,
            examples: Vec::new(),
            checked_records: 0,
        };
        let table = q(&rt.table);
        let mut offset: i64 = 0;
        let empty = Map::new();
        // Newly unique fields: values shared by live records.
        let mut seen_unique: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        loop {
            let rows = self
                .db
                .fetch_all(
                    &format!(
                        "SELECT id, data FROM {table} WHERE deleted_at IS NULL ORDER BY id LIMIT $1 OFFSET $2"
                    ),
                    vec![BACKFILL_BATCH.into(), offset.into()],
                )
                .await?;
            if rows.is_empty() {
                break;
            }
            offset += rows.len() as i64;
            for row in &rows {
                impact.checked_records += 1;
                let id = row.req_uuid("id")?.to_string();
                let plain = projection::unseal(rt, &as_object(row.req_json("data")?), &self.keys)?;
                let mut errors = match compiled.prepare(&empty, Some(&plain), &ctx) {
                    Ok(_) => Vec::new(),
                    Err(errors) => errors,
                };
                for field in compiled.definition().fields.iter().filter(|f| f.unique) {
                    let Some(value) = plain.get(field.name.as_str()).filter(|v| !v.is_null())
                    else {
                        continue;
                    };
                    let key = value.to_string();
                    let seen = seen_unique.entry(field.name.to_string()).or_default();
                    if let Some(other) = seen.get(&key) {
                        errors.push(FieldError::new(
                            field.name.as_str(),
                            "unique_violation",
                            match lang {
                                Lang::Zh => format!("与记录 {other} 重复"),
                                Lang::En => format!("Same value as record {other}"),
                            },
                        ));
                    } else {
                        seen.insert(key, id.clone());
                    }
                }
                if !errors.is_empty() {
                    impact.invalid_records += 1;
                    if impact.examples.len() < IMPACT_EXAMPLES {
                        impact.examples.push(ImpactExample { id, errors });
                    }
                }
            }
        }
        Ok(impact)
    }

    /// Removes an entity that holds no records at all (not even deleted ones).
    pub async fn delete_entity(&self, principal: &Principal, name: &str, lang: Lang) -> Result<()> {
        self.delete_entity_if(principal, name, None, lang).await
    }

    /// Removes an entity; `if_match`, when given, is the version the caller read (stale → 409).
    pub async fn delete_entity_if(
        &self,
        principal: &Principal,
        name: &str,
        if_match: Option<i64>,
        lang: Lang,
    ) -> Result<()> {
        let rt = self.entity(name).await?;
        principal.require(name, Action::Design)?;
        if crate::packs::is_core_entity(name) {
            return Err(EngineError::Conflict(match lang {
                Lang::Zh => format!("{name} 是核心实体，不能删除"),
                Lang::En => format!("{name} is a core entity and cannot be deleted"),
            }));
        }
        let mut tx = self.db.begin().await?;
        lock_ddl(&mut tx).await?;
        if let Some(expected) = if_match {
            let current = tx
                .fetch_optional(
                    "SELECT version FROM entities WHERE name = $1",
                    vec![name.into()],
                )
                .await?
                .map(|row| row.req_int("version"))
                .transpose()?
                .ok_or_else(|| EngineError::not_found(format!("entity {name}")))?;
            if current != expected {
                return Err(EngineError::VersionConflict { current });
            }
        }
        let count = tx
            .fetch_one(
                &format!("SELECT COUNT(*) AS n FROM {}", q(&rt.table)),
                vec![],
            )
            .await?
            .req_int("n")?;
        if count > 0 {
            return Err(EngineError::Conflict(match lang {
                Lang::Zh => format!("实体 {name} 仍有 {count} 条记录，不能删除"),
                Lang::En => {
                    format!("The entity {name} still holds {count} records and cannot be removed")
                }
            }));
        }
        for fs in rt.storage.values() {
            if let StorageKind::SideTable(side) = &fs.kind {
                tx.execute(&format!("DROP TABLE {}", q(side)), vec![])
                    .await?;
            }
        }
        tx.execute(&format!("DROP TABLE {}", q(&rt.table)), vec![])
            .await?;
        for sql in [
            "DELETE FROM entity_fields WHERE entity = $1",
            "DELETE FROM entity_versions WHERE entity = $1",
            "DELETE FROM entities WHERE name = $1",
        ] {
            tx.execute(sql, vec![name.into()]).await?;
        }
        crate::access::audit::append(
            &mut tx.conn(),
            self.clock.as_ref(),
            &crate::access::audit::AuditEntry::new(&principal.actor, "entity.delete").entity(name),
        )
        .await?;
        tx.commit().await?;
        self.catalog.reload(&self.db).await
    }
}

pub(crate) fn as_object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

struct ChangePlan {
    new_fields: Vec<FieldStorage>,
    /// Removed earlier, back now with the same type: the column exists, refresh its values.
    reactivated: Vec<FieldStorage>,
    index_changes: Vec<IndexChange>,
}

/// Indexes a definition change adds or drops for one existing field.
struct IndexChange {
    /// The field with only the index names to create.
    create: FieldStorage,
    /// A unique index to drop: the field is no longer unique.
    drop: Option<String>,
    /// What `entity_fields` records afterwards.
    unique_index: Option<String>,
    plain_index: Option<String>,
}

fn plan_change(rt: &EntityRuntime, def: &EntityDefinition, lang: Lang) -> Result<ChangePlan> {
    let mut plan = ChangePlan {
        new_fields: Vec::new(),
        reactivated: Vec::new(),
        index_changes: Vec::new(),
    };
    let mut details = Vec::new();
    let name = rt.name();
    for (i, field) in def.fields.iter().enumerate() {
        let wanted = FieldStorage::for_field(name, field);
        match rt.storage.get(field.name.as_str()) {
            None => plan.new_fields.push(wanted),
            Some(existing) => {
                let same_kind = existing.storage_label() == wanted.storage_label()
                    && crate::entities::storage::sql_type(
                        existing.value_type,
                        existing.sensitive,
                        Backend::Postgres,
                    ) == crate::entities::storage::sql_type(
                        wanted.value_type,
                        wanted.sensitive,
                        Backend::Postgres,
                    );
                // A subject has a second column (its entity) that no other type has.
                let same_shape = (existing.value_type == FieldType::Subject)
                    == (wanted.value_type == FieldType::Subject);
                if !same_kind || !same_shape || existing.sensitive != wanted.sensitive {
                    details.push(FieldError::new(
                        format!("fields.{i}.type"),
                        "incompatible_change",
                        match lang {
                            Lang::Zh => format!(
                                "字段 {} 的存储类型或敏感标记不能直接修改；请新增一个字段",
                                field.name
                            ),
                            Lang::En => format!(
                                "The storage type or sensitivity of {} cannot change in place; add a new field instead",
                                field.name
                            ),
                        },
                    ));
                    continue;
                }
                if rt.definition().field(field.name.as_str()).is_none() {
                    plan.reactivated.push(existing.clone());
                }
                let drop_unique = existing.unique_index.is_some() && wanted.unique_index.is_none();
                let add_unique = wanted.unique_index.is_some() && existing.unique_index.is_none();
                let add_plain = wanted.plain_index.is_some() && existing.plain_index.is_none();
                if drop_unique || add_unique || add_plain {
                    let mut create = existing.clone();
                    create.unique_index = wanted.unique_index.clone().filter(|_| add_unique);
                    create.plain_index = wanted.plain_index.clone().filter(|_| add_plain);
                    plan.index_changes.push(IndexChange {
                        create,
                        drop: existing.unique_index.clone().filter(|_| drop_unique),
                        unique_index: if drop_unique {
                            None
                        } else {
                            wanted
                                .unique_index
                                .clone()
                                .or(existing.unique_index.clone())
                        },
                        plain_index: wanted.plain_index.clone().or(existing.plain_index.clone()),
                    });
                }
            }
        }
    }
    if details.is_empty() {
        Ok(plan)
    } else {
        Err(definition_errors(details, lang))
    }
}

async fn insert_version(
    tx: &mut Tx,
    name: &str,
    version: i64,
    definition: &Value,
    actor: &str,
    now: OffsetDateTime,
    first: bool,
) -> Result<()> {
    if first {
        tx.execute(
            "INSERT INTO entities (name, version, definition, created_at, created_by, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $4, $5)",
            vec![name.into(), version.into(), definition.clone().into(), now.into(), actor.into()],
        )
        .await?;
    } else {
        tx.execute(
            "UPDATE entities SET version = $2, definition = $3, updated_at = $4, updated_by = $5 WHERE name = $1",
            vec![name.into(), version.into(), definition.clone().into(), now.into(), actor.into()],
        )
        .await?;
    }
    tx.execute(
        "INSERT INTO entity_versions (entity, version, definition, created_at, created_by) VALUES ($1, $2, $3, $4, $5)",
        vec![name.into(), version.into(), definition.clone().into(), now.into(), actor.into()],
    )
    .await?;
    Ok(())
}

async fn insert_field_storage(
    tx: &mut Tx,
    entity: &str,
    fs: &FieldStorage,
    version: i64,
    backfilled: bool,
    unique_pending: bool,
) -> Result<()> {
    tx.execute(
        "INSERT INTO entity_fields (entity, field, field_type, storage, sql_name, sensitive, unique_index, plain_index, added_in, backfilled, unique_pending) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        vec![
            entity.into(),
            fs.field.clone().into(),
            fs.value_type.as_str().into(),
            fs.storage_label().into(),
            Arg::Text(fs.sql_name().map(str::to_string)),
            fs.sensitive.into(),
            Arg::Text(fs.unique_index.clone()),
            Arg::Text(fs.plain_index.clone()),
            version.into(),
            backfilled.into(),
            unique_pending.into(),
        ],
    )
    .await?;
    Ok(())
}
