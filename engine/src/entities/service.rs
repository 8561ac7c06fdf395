//! Creating and changing entity definitions: versions, DDL under a lock, backfills, and the
//! impact preview.

use super::storage::{add_field_sql, create_table_sql, index_sql, q, FieldStorage, StorageKind};
use super::EntityRuntime;
use crate::access::{Action, Principal, SystemRight};
use crate::engine::Engine;
use crate::error::{EngineError, FieldError, Result};
use crate::forms::{CompiledEntity, EntityDefinition, PrepareContext};
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
#[derive(Debug, Clone, Serialize)]
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

async fn lock_ddl(tx: &mut Tx) -> Result<()> {
    if tx.backend() == Backend::Postgres {
        tx.execute(
            "SELECT pg_advisory_xact_lock($1)",
            vec![ENTITY_DDL_LOCK.into()],
        )
        .await?;
        // Adding a column needs a brief exclusive lock; do not queue behind long readers.
        tx.execute("SET LOCAL lock_timeout = '5s'", vec![]).await?;
    }
    Ok(())
}

/// Ok when nothing is wrong with a definition; otherwise every problem in one 400.
fn definition_errors(details: Vec<FieldError>, lang: Lang) -> Result<()> {
    if details.is_empty() {
        return Ok(());
    }
    Err(EngineError::BadRequest {
        message: lang
            .pick("实体定义有误", "The entity definition has errors")
            .into(),
        details,
    })
}

/// `visible_if` and `readonly_if` are filters over the record itself: they must parse, name
/// fields of the definition and use known operators, so the server and the browser can
/// evaluate one rule.
fn check_field_rules(def: &EntityDefinition, lang: Lang) -> Result<()> {
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
                Ok(filter) if !filter.related_entities().is_empty() => Some(
                    lang.pick(
                        "条件只能引用本记录的字段",
                        "A rule may only test this record's fields",
                    )
                    .to_string(),
                ),
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
    definition_errors(details, lang)
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

    /// Checks references name existing entities (or the entity itself).
    async fn check_reference_targets(&self, def: &EntityDefinition, lang: Lang) -> Result<()> {
        let known: Vec<String> = self
            .catalog
            .all(&self.db)
            .await?
            .iter()
            .map(|rt| rt.name().to_string())
            .collect();
        let details: Vec<FieldError> = def
            .fields
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                let target = f.entity.as_ref()?;
                let ok = target == &def.name || known.iter().any(|k| k == target.as_str());
                (!ok).then(|| {
                    FieldError::new(
                        format!("fields.{i}.entity"),
                        "unknown_entity",
                        match lang {
                            Lang::Zh => format!("引用的实体 {target} 不存在"),
                            Lang::En => format!("The referenced entity {target} does not exist"),
                        },
                    )
                })
            })
            .collect();
        definition_errors(details, lang)
    }

    pub async fn create_entity(
        &self,
        principal: &Principal,
        body: Value,
        lang: Lang,
    ) -> Result<EntityInfo> {
        principal.require_right(SystemRight::NewEntity)?;
        let def = parse_definition(body, lang)?;
        let compiled = CompiledEntity::compile(def.clone(), lang)?;
        check_field_rules(&def, lang)?;
        self.check_reference_targets(&def, lang).await?;
        let name = def.name.to_string();
        let now = self.now();
        let backend = self.db.backend();

        let mut tx = self.db.begin().await?;
        lock_ddl(&mut tx).await?;
        let exists = tx
            .fetch_optional(
                "SELECT name FROM entities WHERE name = $1",
                vec![name.clone().into()],
            )
            .await?;
        if exists.is_some() {
            return Err(EngineError::Conflict(match lang {
                Lang::Zh => format!("实体 {name} 已存在"),
                Lang::En => format!("The entity {name} already exists"),
            }));
        }
        let definition_json =
            serde_json::to_value(compiled.definition()).map_err(EngineError::internal)?;
        insert_version(
            &mut tx,
            &name,
            1,
            &definition_json,
            &principal.actor,
            now,
            true,
        )
        .await?;
        for sql in create_table_sql(&name, backend) {
            tx.execute(&sql, vec![]).await?;
        }
        for field in &def.fields {
            let fs = FieldStorage::for_field(&name, field);
            for sql in add_field_sql(&name, &fs, backend) {
                tx.execute(&sql, vec![]).await?;
            }
            insert_field_storage(&mut tx, &name, &fs, 1).await?;
        }
        crate::access::audit::append(
            &mut tx.conn(),
            self.clock.as_ref(),
            &crate::access::audit::AuditEntry::new(&principal.actor, "entity.create").entity(&name),
        )
        .await?;
        tx.commit().await?;
        self.catalog.reload(&self.db).await?;
        self.get_entity(&Principal::system(), &name).await
    }

    /// Applies a new definition. New fields get a column and a backfill from the stored
    /// documents, with no version bump, no history and no events; removed fields are hidden and
    /// keep their column.
    pub async fn update_entity(
        &self,
        principal: &Principal,
        name: &str,
        body: Value,
        lang: Lang,
    ) -> Result<EntityInfo> {
        let rt = self.entity(name).await?;
        principal.require(name, Action::Design)?;
        let def = parse_definition(body, lang)?;
        if def.name.as_str() != name {
            return Err(EngineError::bad_request(
                lang.pick("实体名称不可修改", "An entity's name cannot change"),
            ));
        }
        let compiled = CompiledEntity::compile(def.clone(), lang)?;
        check_field_rules(&def, lang)?;
        self.check_reference_targets(&def, lang).await?;
        let plan = plan_change(&rt, &def, lang)?;
        let backend = self.db.backend();
        let now = self.now();

        let mut tx = self.db.begin().await?;
        lock_ddl(&mut tx).await?;
        let current = tx
            .fetch_one(
                "SELECT version FROM entities WHERE name = $1",
                vec![name.into()],
            )
            .await?
            .req_int("version")?;
        let version = current + 1;
        for fs in &plan.new_fields {
            for sql in add_field_sql(name, fs, backend) {
                tx.execute(&sql, vec![]).await?;
            }
            insert_field_storage(&mut tx, name, fs, version).await?;
        }
        for change in &plan.index_changes {
            let fs = &change.create;
            if let Some(index) = &change.drop {
                tx.execute(&format!("DROP INDEX {}", q(index)), vec![])
                    .await?;
            }
            for sql in index_sql(name, fs) {
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
                "UPDATE entity_fields SET unique_index = $1, plain_index = $2 WHERE entity = $3 AND field = $4",
                vec![
                    change.unique_index.clone().into(),
                    change.plain_index.clone().into(),
                    name.into(),
                    fs.field.clone().into(),
                ],
            )
            .await?;
        }
        let definition_json =
            serde_json::to_value(compiled.definition()).map_err(EngineError::internal)?;
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
                .fields(plan.new_fields.iter().map(|f| f.field.clone()).collect()),
        )
        .await?;
        tx.commit().await?;
        self.catalog.reload(&self.db).await?;
        let rt = self.entity(name).await?;
        for fs in plan.new_fields.iter().chain(&plan.reactivated) {
            self.backfill(&rt, fs).await?;
        }
        self.get_entity(&Principal::system(), name).await
    }

    /// Fills one field's projection from the stored documents, in batches; records' versions,
    /// history and events are untouched.
    async fn backfill(&self, rt: &EntityRuntime, fs: &FieldStorage) -> Result<()> {
        let table = q(&rt.table);
        let mut after: Option<String> = None;
        loop {
            let rows = match &after {
                None => {
                    self.db
                        .fetch_all(
                            &format!("SELECT id, data FROM {table} ORDER BY id LIMIT $1"),
                            vec![BACKFILL_BATCH.into()],
                        )
                        .await?
                }
                Some(last) => {
                    let last = uuid::Uuid::parse_str(last).map_err(EngineError::internal)?;
                    self.db
                        .fetch_all(
                            &format!(
                                "SELECT id, data FROM {table} WHERE id > $1 ORDER BY id LIMIT $2"
                            ),
                            vec![last.into(), BACKFILL_BATCH.into()],
                        )
                        .await?
                }
            };
            if rows.is_empty() {
                break;
            }
            let mut tx = self.db.begin().await?;
            for row in &rows {
                let id = row.req_uuid("id")?;
                let sealed = as_object(row.req_json("data")?);
                if !sealed.contains_key(&fs.field) {
                    continue;
                }
                let plain = projection::unseal(rt, &sealed, &self.keys)?;
                match &fs.kind {
                    StorageKind::Column(column) => {
                        let arg = projection::scalar_arg(fs, plain.get(&fs.field), &self.keys);
                        tx.execute(
                            &format!("UPDATE {table} SET {} = $1 WHERE id = $2", q(column)),
                            vec![arg, id.into()],
                        )
                        .await?;
                    }
                    StorageKind::SideTable(side) => {
                        tx.execute(
                            &format!("DELETE FROM {} WHERE record_id = $1", q(side)),
                            vec![id.into()],
                        )
                        .await?;
                        for value in projection::side_values(fs, plain.get(&fs.field)) {
                            tx.execute(
                                &format!(
                                    "INSERT INTO {} (record_id, value) VALUES ($1, $2)",
                                    q(side)
                                ),
                                vec![id.into(), value],
                            )
                            .await?;
                        }
                    }
                    StorageKind::DocumentOnly => {}
                }
            }
            tx.commit().await?;
            after = rows
                .last()
                .map(|r| r.req_uuid("id"))
                .transpose()?
                .map(|u| u.to_string());
            if (rows.len() as i64) < BACKFILL_BATCH {
                break;
            }
        }
        Ok(())
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
        let def = parse_definition(body, lang)?;
        let compiled = CompiledEntity::compile(def, lang)?;
        let ctx = PrepareContext {
            lang,
            today: self.today(),
        };
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
                let plain = projection::unseal(&rt, &as_object(row.req_json("data")?), &self.keys)?;
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
        let rt = self.entity(name).await?;
        principal.require(name, Action::Design)?;
        let mut tx = self.db.begin().await?;
        lock_ddl(&mut tx).await?;
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
                if !same_kind || existing.sensitive != wanted.sensitive {
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
        Err(EngineError::BadRequest {
            message: lang
                .pick(
                    "实体定义的修改不被允许",
                    "The definition change is not allowed",
                )
                .into(),
            details,
        })
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
) -> Result<()> {
    tx.execute(
        "INSERT INTO entity_fields (entity, field, field_type, storage, sql_name, sensitive, unique_index, plain_index, added_in) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
        ],
    )
    .await?;
    Ok(())
}
