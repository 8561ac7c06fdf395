//! Record writes: validate, check references and uniqueness, number, seal, store, and keep
//! history and audit in the same transaction.

use super::events::{ChangeEvent, ChangeOp};
use super::projection;
use super::rows::{self, NewRow};
use super::{Record, StoredRecord};
use crate::access::audit::{self, AuditEntry};
use crate::access::{Action, FieldRule, Principal};
use crate::engine::Engine;
use crate::entities::storage::q;
use crate::entities::EntityRuntime;
use crate::error::{EngineError, FieldError, Result};
use crate::forms::compiled::subject_parts;
use crate::forms::{FieldType, PrepareContext};
use crate::i18n::Lang;
use crate::masking::mask;
use crate::store::{Arg, Backend, Conn, Together};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// The unique, non-sensitive field and value an upsert is keyed on (`mrn` = `M001`).
#[derive(Debug, Clone, Copy)]
pub struct UniqueKey<'a> {
    pub field: &'a str,
    pub value: &'a str,
}

/// What an idempotent upsert did.
#[derive(Debug, Clone)]
pub struct UpsertOutcome {
    pub record: Record,
    pub created: bool,
}

pub(crate) fn label_of(rt: &EntityRuntime, field: &str, lang: Lang) -> String {
    rt.definition()
        .field(field)
        .and_then(|f| f.label.as_ref())
        .and_then(|l| l.text(lang))
        .unwrap_or(field)
        .to_string()
}

/// Maps a database unique violation to the field whose index it hit.
pub(crate) fn map_write_error(rt: &EntityRuntime, error: EngineError) -> EngineError {
    let EngineError::Storage(sqlx::Error::Database(db)) = &error else {
        return error;
    };
    if !db.is_unique_violation() {
        return error;
    }
    let by_index = db.constraint().and_then(|c| rt.field_of_unique_index(c));
    // SQLite names the column: "UNIQUE constraint failed: e_patient.f_mrn".
    let by_column = || {
        db.message()
            .rsplit_once('.')
            .and_then(|(_, column)| rt.field_of_column(column.trim()))
    };
    match by_index.or_else(by_column) {
        Some(field) => EngineError::UniqueViolation {
            field: field.to_string(),
        },
        None => error,
    }
}

impl Engine {
    pub(crate) fn prepare_context(&self, lang: Lang) -> PrepareContext {
        let now = self.now();
        PrepareContext {
            lang,
            today: self.today(),
            now,
            offset: self.utc_offset_at(now),
        }
    }

    /// References must point at live records of their entity; user fields at existing users.
    pub(crate) async fn check_references(
        &self,
        conn: &mut Conn<'_>,
        rt: &EntityRuntime,
        docs: &[&Map<String, Value>],
        lang: Lang,
    ) -> Result<Vec<Vec<FieldError>>> {
        let mut errors = vec![Vec::new(); docs.len()];
        for field in &rt.definition().fields {
            let name = field.name.as_str();
            if field.field_type == FieldType::Subject {
                self.check_subjects(conn, rt, name, docs, lang, &mut errors)
                    .await?;
                continue;
            }
            let (target_table, is_user) = match field.field_type {
                FieldType::Reference | FieldType::References => match &field.entity {
                    Some(target) => (crate::entities::storage::table_name(target.as_str()), false),
                    None => continue,
                },
                FieldType::User => ("users".to_string(), true),
                _ => continue,
            };
            let mut wanted: BTreeSet<Uuid> = BTreeSet::new();
            for doc in docs {
                for id in reference_values(doc.get(name)) {
                    wanted.insert(id);
                }
            }
            if wanted.is_empty() {
                continue;
            }
            let found = existing_ids(conn, &target_table, is_user, &wanted).await?;
            for (i, doc) in docs.iter().enumerate() {
                let missing: Vec<Uuid> = reference_values(doc.get(name))
                    .into_iter()
                    .filter(|id| !found.contains(id))
                    .collect();
                if let Some(id) = missing.first() {
                    let label = label_of(rt, name, lang);
                    errors[i].push(FieldError::new(
                        name,
                        "reference_not_found",
                        match lang {
                            Lang::Zh => format!("{label} 引用的记录 {id} 不存在或已删除"),
                            Lang::En => format!(
                                "{label}: the referenced record {id} does not exist or was deleted"
                            ),
                        },
                    ));
                }
            }
        }
        // The rules of a task its definition cannot say, on every path that writes one.
        if rt.name() == crate::flows::tasks::TASK {
            for (i, doc) in docs.iter().enumerate() {
                errors[i].extend(crate::flows::tasks::check_task(doc, lang));
            }
        }
        Ok(errors)
    }

    /// A subject field must point at a live record of an existing entity. The entities are
    /// those the write's catalog knows (refreshed as the write began), so no second
    /// connection is taken while the write's transaction holds one.
    async fn check_subjects(
        &self,
        conn: &mut Conn<'_>,
        rt: &EntityRuntime,
        name: &str,
        docs: &[&Map<String, Value>],
        lang: Lang,
        errors: &mut [Vec<FieldError>],
    ) -> Result<()> {
        let mut wanted: BTreeMap<&str, BTreeSet<Uuid>> = BTreeMap::new();
        for doc in docs {
            if let Some((entity, id)) = doc.get(name).and_then(subject_parts) {
                wanted.entry(entity).or_default().insert(id);
            }
        }
        // entity → the live ids found, or None for an entity that does not exist.
        let mut found: BTreeMap<&str, Option<BTreeSet<Uuid>>> = BTreeMap::new();
        for (entity, ids) in wanted {
            let live = match self.catalog.cached(entity) {
                Some(target) => Some(existing_ids(conn, &target.table, false, &ids).await?),
                None => None,
            };
            found.insert(entity, live);
        }
        let label = label_of(rt, name, lang);
        for (i, doc) in docs.iter().enumerate() {
            let Some((entity, id)) = doc.get(name).and_then(subject_parts) else {
                continue;
            };
            match found.get(entity) {
                Some(Some(ids)) if ids.contains(&id) => {}
                Some(Some(_)) => errors[i].push(FieldError::new(
                    name,
                    "reference_not_found",
                    match lang {
                        Lang::Zh => format!("{label} 关联的记录 {entity} {id} 不存在或已删除"),
                        Lang::En => format!(
                            "{label}: the linked record {entity} {id} does not exist or was deleted"
                        ),
                    },
                )),
                _ => errors[i].push(FieldError::new(
                    name,
                    "unknown_entity",
                    match lang {
                        Lang::Zh => format!("{label} 关联的实体 {entity} 不存在"),
                        Lang::En => format!("{label}: there is no entity {entity}"),
                    },
                )),
            }
        }
        Ok(())
    }

    /// A unique field's value must not be held by another live record; with `only`, the
    /// unique fields among those names.
    pub(crate) async fn check_unique(
        &self,
        conn: &mut Conn<'_>,
        rt: &EntityRuntime,
        plain: &Map<String, Value>,
        except: Option<Uuid>,
        only: Option<&[String]>,
    ) -> Result<()> {
        let checked = |field: &str| only.is_none_or(|names| names.iter().any(|n| n == field));
        for fs in rt
            .columns()
            .filter(|fs| fs.unique_index.is_some() && checked(&fs.field))
        {
            let arg = projection::scalar_arg(fs, plain.get(&fs.field), &self.keys);
            if arg.is_null() {
                continue;
            }
            let column = fs.column().unwrap_or_default();
            let mut sql = format!(
                "SELECT id FROM {} WHERE {} = $1 AND deleted_at IS NULL",
                q(&rt.table),
                q(column)
            );
            let mut args = vec![arg];
            if let Some(id) = except {
                sql.push_str(" AND id <> $2");
                args.push(id.into());
            }
            sql.push_str(" LIMIT 1");
            if conn.fetch_optional(&sql, args).await?.is_some() {
                return Err(EngineError::UniqueViolation {
                    field: fs.field.clone(),
                });
            }
        }
        Ok(())
    }

    /// Reserves the next `count` numbers of one autonumber field in one statement
    /// (P2026000001 …); the counter restarts each year unless the field says otherwise.
    async fn reserve_numbers(
        &self,
        conn: &mut Conn<'_>,
        rt: &EntityRuntime,
        field: &crate::forms::FieldDef,
        count: usize,
    ) -> Result<Vec<String>> {
        let year = self.today().year();
        let yearly = field.yearly.unwrap_or(true);
        let period = if yearly {
            year.to_string()
        } else {
            "all".to_string()
        };
        let count = count as i64;
        let last = conn
            .fetch_one(
                "INSERT INTO sequences (entity, field, period, last_value) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (entity, field, period) DO UPDATE SET last_value = sequences.last_value + $4 \
                 RETURNING last_value",
                vec![rt.name().into(), field.name.as_str().into(), period.into(), count.into()],
            )
            .await?
            .req_int("last_value")?;
        let digits = usize::from(field.digits.unwrap_or(6));
        let prefix = field.prefix.as_deref().unwrap_or_default();
        Ok((0..count)
            .map(|n| {
                let value = last - count + 1 + n;
                if yearly {
                    format!("{prefix}{year}{value:0digits$}")
                } else {
                    format!("{prefix}{value:0digits$}")
                }
            })
            .collect())
    }

    /// Numbers for every autonumber field, for `count` new records.
    pub(crate) async fn reserve_autonumbers(
        &self,
        conn: &mut Conn<'_>,
        rt: &EntityRuntime,
        count: usize,
    ) -> Result<Vec<(String, Vec<String>)>> {
        let mut out = Vec::new();
        for field in rt
            .definition()
            .fields
            .iter()
            .filter(|f| f.field_type == FieldType::Autonumber)
        {
            out.push((
                field.name.to_string(),
                self.reserve_numbers(conn, rt, field, count).await?,
            ));
        }
        Ok(out)
    }

    /// Gives every autonumber field of `docs` that has no number yet its next number.
    pub(crate) async fn assign_autonumbers(
        &self,
        conn: &mut Conn<'_>,
        rt: &EntityRuntime,
        docs: &mut [Map<String, Value>],
    ) -> Result<()> {
        for field in rt
            .definition()
            .fields
            .iter()
            .filter(|f| f.field_type == FieldType::Autonumber)
        {
            let pending: Vec<usize> = (0..docs.len())
                .filter(|&i| docs[i].get(field.name.as_str()).is_none_or(Value::is_null))
                .collect();
            if pending.is_empty() {
                continue;
            }
            let numbers = self.reserve_numbers(conn, rt, field, pending.len()).await?;
            for (i, number) in pending.into_iter().zip(numbers) {
                docs[i].insert(field.name.to_string(), Value::String(number));
            }
        }
        Ok(())
    }

    pub async fn create_record(
        &self,
        principal: &Principal,
        entity: &str,
        data: Map<String, Value>,
        lang: Lang,
    ) -> Result<Record> {
        let rt = self.entity(entity).await?;
        principal.require(entity, Action::Create)?;
        let plain = rt
            .compiled
            .prepare(&data, None, &self.prepare_context(lang))
            .map_err(|details| EngineError::Validation { details })?;
        let mut tx = self.db.begin().await?;
        let outcome = self
            .insert_prepared(&mut tx.conn(), &rt, principal, vec![plain], lang)
            .await;
        let ids = outcome.map_err(|e| map_write_error(&rt, e))?;
        let id = ids
            .first()
            .copied()
            .ok_or_else(|| EngineError::internal("no record inserted"))?;
        let stored = live_record(&mut tx.conn(), &rt, id).await?;
        tx.commit().await.map_err(|e| map_write_error(&rt, e))?;
        self.events_committed();
        self.written_answer(&rt, principal, &stored, &data)
    }

    /// The record a write answers with, as the writer may see it. A caller that may read the
    /// entity sees it as a read shows it. A caller without `read` (a create-only integration)
    /// sees the id, version and timestamps and the fields it sent, hidden or masked where its
    /// roles' field rules say so and sensitive fields masked: never what it could not have
    /// known, and never a 403 for a write that was made.
    fn written_answer(
        &self,
        rt: &EntityRuntime,
        principal: &Principal,
        stored: &StoredRecord,
        sent: &Map<String, Value>,
    ) -> Result<Record> {
        let mut record = stored.clone().present(rt, principal, &self.keys, &[])?;
        if principal.can(rt.name(), Action::Read) {
            return Ok(record);
        }
        let plain = projection::unseal(rt, &stored.sealed, &self.keys)?;
        let rule_of = |field: &str| {
            principal
                .permissions
                .iter()
                .filter(|p| {
                    p.entity.as_str() == rt.name()
                        && (p.actions.contains(&Action::Create)
                            || p.actions.contains(&Action::Update))
                })
                .filter_map(|p| p.fields.get(field).copied())
                .min_by_key(|r| match r {
                    FieldRule::Hidden => 0,
                    FieldRule::Masked => 1,
                    FieldRule::Read => 2,
                    FieldRule::Write => 3,
                })
        };
        let mut data = Map::new();
        for field in &rt.definition().fields {
            let name = field.name.as_str();
            let (true, Some(value)) = (sent.contains_key(name), plain.get(name)) else {
                continue;
            };
            let rule = rule_of(name);
            if rule == Some(FieldRule::Hidden) {
                continue;
            }
            let shown = match value {
                Value::String(s) if rule == Some(FieldRule::Masked) || field.is_sensitive() => {
                    Value::String(mask(field.field_type, s))
                }
                other if rule == Some(FieldRule::Masked) => {
                    Value::String(mask(field.field_type, &other.to_string()))
                }
                other => other.clone(),
            };
            data.insert(name.to_string(), shown);
        }
        record.data = data;
        Ok(record)
    }

    /// Inserts validated documents: references, uniqueness, numbers, sealing, history, audit.
    /// Every document or none.
    pub(crate) async fn insert_prepared(
        &self,
        conn: &mut Conn<'_>,
        rt: &EntityRuntime,
        principal: &Principal,
        docs: Vec<Map<String, Value>>,
        lang: Lang,
    ) -> Result<Vec<Uuid>> {
        let refs: Vec<&Map<String, Value>> = docs.iter().collect();
        let ref_errors = self.check_references(conn, rt, &refs, lang).await?;
        if let Some(details) = ref_errors.into_iter().find(|e| !e.is_empty()) {
            return Err(EngineError::Validation { details });
        }
        if docs.len() == 1 {
            self.check_unique(conn, rt, &docs[0], None, None).await?;
        }
        let (rows, events) = self.write_documents(conn, rt, principal, docs).await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        if let ([row], [event]) = (rows.as_slice(), events.as_slice()) {
            let mut trail = Together::default();
            audit::push(
                &mut trail,
                self.clock.as_ref(),
                &AuditEntry::new(&principal.actor, "record.create")
                    .record(rt.name(), row.id.to_string())
                    .fields(row.plain.keys().cloned().collect()),
            )?;
            self.record_trail(conn, trail, event).await?;
        } else {
            self.record_changes(conn, &events).await?;
            audit::append(
                conn,
                self.clock.as_ref(),
                &AuditEntry::new(&principal.actor, "record.create_many")
                    .entity(rt.name())
                    .detail(serde_json::json!({ "count": ids.len() })),
            )
            .await?;
        }
        Ok(ids)
    }

    /// Numbers, seals and inserts validated documents, with their change events; the caller
    /// has checked references and uniqueness and writes the audit entry.
    pub(crate) async fn insert_documents(
        &self,
        conn: &mut Conn<'_>,
        rt: &EntityRuntime,
        principal: &Principal,
        docs: Vec<Map<String, Value>>,
    ) -> Result<Vec<NewRow>> {
        let (rows, events) = self.write_documents(conn, rt, principal, docs).await?;
        self.record_changes(conn, &events).await?;
        Ok(rows)
    }

    /// [`Engine::insert_documents`] but for the change events, answered for the caller to
    /// record.
    async fn write_documents(
        &self,
        conn: &mut Conn<'_>,
        rt: &EntityRuntime,
        principal: &Principal,
        mut docs: Vec<Map<String, Value>>,
    ) -> Result<(Vec<NewRow>, Vec<ChangeEvent>)> {
        let actor = principal.actor.as_str();
        self.assign_autonumbers(conn, rt, &mut docs).await?;
        let now = self.now();
        let rows: Vec<NewRow> = docs
            .into_iter()
            .map(|plain| NewRow {
                id: Uuid::now_v7(),
                sealed: projection::seal(rt, &plain, None, None, &self.keys),
                plain,
            })
            .collect();
        rows::insert_rows(conn, rt, &rows, actor, now, &self.keys).await?;
        let events: Vec<ChangeEvent> = rows
            .iter()
            .map(|row| created_event(rt, row.id, &row.plain, actor, now, principal.run))
            .collect();
        Ok((rows, events))
    }

    /// Runs INSERTs built off the async thread (`rows::insert_statements`) for the records
    /// `ids` with documents `plain`, and appends their change events.
    pub(crate) async fn store_built(
        &self,
        conn: &mut Conn<'_>,
        rt: &EntityRuntime,
        actor: &str,
        now: time::OffsetDateTime,
        built: (&[Uuid], &[Map<String, Value>], Vec<rows::Statement>),
    ) -> Result<()> {
        let (ids, plain, statements) = built;
        rows::run(conn, statements)
            .await
            .map_err(|e| map_write_error(rt, e))?;
        let events: Vec<ChangeEvent> = ids
            .iter()
            .zip(plain)
            .map(|(id, plain)| created_event(rt, *id, plain, actor, now, None))
            .collect();
        self.record_changes(conn, &events).await
    }

    pub async fn update_record(
        &self,
        principal: &Principal,
        entity: &str,
        id: Uuid,
        data: Map<String, Value>,
        expected_version: i64,
        lang: Lang,
    ) -> Result<Record> {
        let rt = self.entity(entity).await?;
        principal.require(entity, Action::Update)?;
        let mut tx = self.db.begin().await?;
        let stored = live_record(&mut tx.conn(), &rt, id).await?;
        if stored.version != expected_version {
            return Err(EngineError::VersionConflict {
                current: stored.version,
            });
        }
        let written = self
            .apply_update(&mut tx.conn(), &rt, principal, &stored, &data, lang)
            .await
            .map_err(|e| map_write_error(&rt, e))?;
        tx.commit().await.map_err(|e| map_write_error(&rt, e))?;
        let stored = written.unwrap_or(stored);
        self.events_committed();
        self.written_answer(&rt, principal, &stored, &data)
    }

    /// Writes `data` over `stored` with its history, event and audit entry. Answers the row
    /// as now stored, one version on, or None when `data` changes nothing (nothing written).
    pub(crate) async fn apply_update(
        &self,
        conn: &mut Conn<'_>,
        rt: &EntityRuntime,
        principal: &Principal,
        stored: &StoredRecord,
        data: &Map<String, Value>,
        lang: Lang,
    ) -> Result<Option<StoredRecord>> {
        let existing = projection::unseal(rt, &stored.sealed, &self.keys)?;
        let completed = (rt.name() == crate::flows::tasks::TASK)
            .then(|| crate::flows::tasks::on_done(&existing, data, principal, self.now()))
            .flatten();
        let data = completed.as_ref().unwrap_or(data);
        let plain = rt
            .compiled
            .prepare(data, Some(&existing), &self.prepare_context(lang))
            .map_err(|details| EngineError::Validation { details })?;
        let changed: Vec<String> = plain
            .iter()
            .filter(|(k, v)| existing.get(*k) != Some(*v))
            .map(|(k, _)| k.clone())
            .chain(existing.keys().filter(|k| !plain.contains_key(*k)).cloned())
            .collect();
        if changed.is_empty() {
            return Ok(None);
        }
        let ref_errors = self.check_references(conn, rt, &[&plain], lang).await?;
        if let Some(details) = ref_errors.into_iter().find(|e| !e.is_empty()) {
            return Err(EngineError::Validation { details });
        }
        // A unique value the record already held needs no check: the index holds it to one.
        self.check_unique(conn, rt, &plain, Some(stored.id), Some(changed.as_slice()))
            .await?;
        let sealed = projection::seal(
            rt,
            &plain,
            Some(&stored.sealed),
            Some(&existing),
            &self.keys,
        );
        let now = self.now();
        let ok = rows::update_row(
            conn,
            rt,
            stored.id,
            stored.version,
            &plain,
            &existing,
            &sealed,
            None,
            &principal.actor,
            now,
            &self.keys,
        )
        .await?;
        if !ok {
            return Err(EngineError::VersionConflict {
                current: stored.version + 1,
            });
        }
        let mut trail = Together::default();
        rows::push_change(
            &mut trail,
            rt.name(),
            stored.id,
            stored.version + 1,
            "update",
            &sealed,
            changed.clone(),
            &principal.actor,
            now,
        );
        audit::push(
            &mut trail,
            self.clock.as_ref(),
            &AuditEntry::new(&principal.actor, "record.update")
                .record(rt.name(), stored.id.to_string())
                .fields(changed.clone()),
        )?;
        let event = ChangeEvent {
            entity: rt.name().to_string(),
            record_id: stored.id,
            op: ChangeOp::Update,
            changed_fields: changed,
            version: stored.version + 1,
            actor: principal.actor.clone(),
            at: now,
            run_id: principal.run,
        };
        self.record_trail(conn, trail, &event).await?;
        Ok(Some(StoredRecord {
            id: stored.id,
            version: stored.version + 1,
            sealed,
            created_at: stored.created_at,
            created_by: stored.created_by.clone(),
            updated_at: now,
            updated_by: principal.actor.clone(),
            deleted_at: None,
        }))
    }

    pub async fn delete_record(
        &self,
        principal: &Principal,
        entity: &str,
        id: Uuid,
        expected_version: i64,
    ) -> Result<()> {
        let rt = self.entity(entity).await?;
        principal.require(entity, Action::Delete)?;
        let mut tx = self.db.begin().await?;
        let stored = live_record(&mut tx.conn(), &rt, id).await?;
        if stored.version != expected_version {
            return Err(EngineError::VersionConflict {
                current: stored.version,
            });
        }
        self.set_deleted(&mut tx.conn(), &rt, principal, &stored, true)
            .await?;
        tx.commit().await?;
        self.events_committed();
        Ok(())
    }

    pub async fn restore_record(
        &self,
        principal: &Principal,
        entity: &str,
        id: Uuid,
        lang: Lang,
    ) -> Result<Record> {
        let rt = self.entity(entity).await?;
        principal.require(entity, Action::Delete)?;
        let mut tx = self.db.begin().await?;
        let stored = rows::load(&mut tx.conn(), &rt, id, true)
            .await?
            .ok_or_else(|| EngineError::not_found(format!("{entity} {id}")))?;
        if stored.deleted_at.is_none() {
            return Err(EngineError::Conflict(
                lang.pick("记录未被删除", "The record is not deleted")
                    .into(),
            ));
        }
        let plain = projection::unseal(&rt, &stored.sealed, &self.keys)?;
        self.check_unique(&mut tx.conn(), &rt, &plain, Some(id), None)
            .await?;
        self.set_deleted(&mut tx.conn(), &rt, principal, &stored, false)
            .await
            .map_err(|e| map_write_error(&rt, e))?;
        let restored = live_record(&mut tx.conn(), &rt, id).await?;
        tx.commit().await.map_err(|e| map_write_error(&rt, e))?;
        self.events_committed();
        self.written_answer(&rt, principal, &restored, &Map::new())
    }

    async fn set_deleted(
        &self,
        conn: &mut Conn<'_>,
        rt: &EntityRuntime,
        principal: &Principal,
        stored: &StoredRecord,
        deleted: bool,
    ) -> Result<()> {
        let plain = projection::unseal(rt, &stored.sealed, &self.keys)?;
        let now = self.now();
        let deleted_at = deleted.then_some(now);
        let ok = rows::update_row(
            conn,
            rt,
            stored.id,
            stored.version,
            &plain,
            &plain,
            &stored.sealed,
            deleted_at,
            &principal.actor,
            now,
            &self.keys,
        )
        .await?;
        if !ok {
            return Err(EngineError::VersionConflict {
                current: stored.version + 1,
            });
        }
        let op = if deleted { "delete" } else { "restore" };
        let mut trail = Together::default();
        rows::push_change(
            &mut trail,
            rt.name(),
            stored.id,
            stored.version + 1,
            op,
            &stored.sealed,
            Vec::new(),
            &principal.actor,
            now,
        );
        audit::push(
            &mut trail,
            self.clock.as_ref(),
            &AuditEntry::new(&principal.actor, format!("record.{op}"))
                .record(rt.name(), stored.id.to_string()),
        )?;
        let event = ChangeEvent {
            entity: rt.name().to_string(),
            record_id: stored.id,
            op: if deleted {
                ChangeOp::Delete
            } else {
                ChangeOp::Restore
            },
            changed_fields: Vec::new(),
            version: stored.version + 1,
            actor: principal.actor.clone(),
            at: now,
            run_id: principal.run,
        };
        self.record_trail(conn, trail, &event).await?;
        Ok(())
    }

    /// Creates or updates the record whose unique, non-sensitive `field` equals `value`: what
    /// an integration pushing from the HIS needs to be idempotent.
    pub async fn upsert_record_by(
        &self,
        principal: &Principal,
        entity: &str,
        key: UniqueKey<'_>,
        mut data: Map<String, Value>,
        if_match: Option<i64>,
        lang: Lang,
    ) -> Result<UpsertOutcome> {
        let UniqueKey { field, value } = key;
        let rt = self.entity(entity).await?;
        let def = rt
            .definition()
            .field(field)
            .ok_or_else(|| EngineError::bad_request(format!("unknown field {field}")))?;
        let fs = rt
            .field_storage(field)
            .filter(|fs| fs.unique_index.is_some() && !fs.sensitive);
        let Some(fs) = fs else {
            return Err(EngineError::bad_request(match lang {
                Lang::Zh => format!("字段 {field} 不是唯一且非敏感的字段，不能用于按值写入"),
                Lang::En => {
                    format!("{field} is not a unique, non-sensitive field and cannot key an upsert")
                }
            }));
        };
        let key_value = match def.field_type {
            FieldType::Integer => value
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| EngineError::bad_request(format!("{field} must be an integer")))?,
            _ => Value::String(value.to_string()),
        };
        if let Some(sent) = data.get(field) {
            if sent != &key_value {
                return Err(EngineError::bad_request(match lang {
                    Lang::Zh => format!("请求体中的 {field} 与地址中的值不一致"),
                    Lang::En => format!("{field} in the body differs from the value in the path"),
                }));
            }
        }
        let arg = projection::scalar_arg(fs, Some(&key_value), &self.keys);
        data.insert(field.to_string(), key_value);
        // Two first pushes of one new value race to create it: the loser's insert meets the
        // winner's unique index, and trying again finds the record and updates it (on
        // SQLite writers queue, so the race cannot happen).
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .upsert_once(&rt, principal, fs, arg.clone(), &data, if_match, lang)
                .await
            {
                Err(EngineError::UniqueViolation { .. }) if attempt < 3 => continue,
                other => return other,
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn upsert_once(
        &self,
        rt: &EntityRuntime,
        principal: &Principal,
        fs: &crate::entities::FieldStorage,
        arg: Arg,
        data: &Map<String, Value>,
        if_match: Option<i64>,
        lang: Lang,
    ) -> Result<UpsertOutcome> {
        let entity = rt.name();
        let mut tx = self.db.begin().await?;
        let lock = if tx.backend() == Backend::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let row = tx
            .fetch_optional(
                &format!(
                    "SELECT {} FROM {} WHERE {} = $1 AND deleted_at IS NULL{lock}",
                    rows::RECORD_COLUMNS,
                    q(&rt.table),
                    q(fs.column().unwrap_or_default())
                ),
                vec![arg],
            )
            .await?;
        let (id, created) = match row {
            Some(row) => {
                principal.require(entity, Action::Update)?;
                let stored = rows::stored_from_row(&row)?;
                if let Some(expected) = if_match {
                    if expected != stored.version {
                        return Err(EngineError::VersionConflict {
                            current: stored.version,
                        });
                    }
                }
                self.apply_update(&mut tx.conn(), rt, principal, &stored, data, lang)
                    .await
                    .map_err(|e| map_write_error(rt, e))?;
                (stored.id, false)
            }
            None => {
                principal.require(entity, Action::Create)?;
                if if_match.is_some() {
                    return Err(EngineError::not_found(format!("{entity} {}", fs.field)));
                }
                let plain = rt
                    .compiled
                    .prepare(data, None, &self.prepare_context(lang))
                    .map_err(|details| EngineError::Validation { details })?;
                let ids = self
                    .insert_prepared(&mut tx.conn(), rt, principal, vec![plain], lang)
                    .await
                    .map_err(|e| map_write_error(rt, e))?;
                (
                    ids.first()
                        .copied()
                        .ok_or_else(|| EngineError::internal("no record inserted"))?,
                    true,
                )
            }
        };
        let stored = live_record(&mut tx.conn(), rt, id).await?;
        tx.commit().await.map_err(|e| map_write_error(rt, e))?;
        self.events_committed();
        Ok(UpsertOutcome {
            record: self.written_answer(rt, principal, &stored, data)?,
            created,
        })
    }
}

fn created_event(
    rt: &EntityRuntime,
    id: Uuid,
    plain: &Map<String, Value>,
    actor: &str,
    at: time::OffsetDateTime,
    run_id: Option<Uuid>,
) -> ChangeEvent {
    ChangeEvent {
        entity: rt.name().to_string(),
        record_id: id,
        op: ChangeOp::Create,
        changed_fields: plain.keys().cloned().collect(),
        version: 1,
        actor: actor.to_string(),
        at,
        run_id,
    }
}

async fn live_record(conn: &mut Conn<'_>, rt: &EntityRuntime, id: Uuid) -> Result<StoredRecord> {
    rows::load(conn, rt, id, true)
        .await?
        .filter(|r| r.deleted_at.is_none())
        .ok_or_else(|| EngineError::not_found(format!("{} {id}", rt.name())))
}

fn reference_values(value: Option<&Value>) -> Vec<Uuid> {
    match value {
        Some(Value::String(s)) => Uuid::parse_str(s).ok().into_iter().collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok()))
            .collect(),
        _ => Vec::new(),
    }
}

async fn existing_ids(
    conn: &mut Conn<'_>,
    table: &str,
    is_user: bool,
    wanted: &BTreeSet<Uuid>,
) -> Result<BTreeSet<Uuid>> {
    let mut found = BTreeSet::new();
    let ids: Vec<Uuid> = wanted.iter().copied().collect();
    for chunk in ids.chunks(500) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let live = if is_user {
            ""
        } else {
            " AND deleted_at IS NULL"
        };
        let sql = format!(
            "SELECT id FROM {} WHERE id IN ({}){live}",
            q(table),
            placeholders.join(", ")
        );
        let args = chunk.iter().map(|id| Arg::Uuid(Some(*id))).collect();
        for row in conn.fetch_all(&sql, args).await? {
            found.insert(row.req_uuid("id")?);
        }
    }
    Ok(found)
}

/// One batch of a bulk create after its CPU work: validated, numbered, sealed, statements built.
struct BulkBatch {
    ids: Vec<Uuid>,
    plain: Vec<Map<String, Value>>,
    statements: Vec<rows::Statement>,
    errors: Vec<FieldError>,
}

/// Documents per batch of a bulk create.
const BULK_BATCH: usize = 500;

#[allow(clippy::too_many_arguments)]
fn build_bulk_batch(
    rt: &EntityRuntime,
    keys: &crate::crypto::Keyring,
    ctx: &PrepareContext,
    documents: Vec<Map<String, Value>>,
    first_index: usize,
    numbers: Vec<(String, Vec<String>)>,
    actor: &str,
    now: time::OffsetDateTime,
    backend: Backend,
) -> BulkBatch {
    let mut errors = Vec::new();
    let mut prepared = Vec::with_capacity(documents.len());
    for (i, doc) in documents.iter().enumerate() {
        match rt.compiled.prepare(doc, None, ctx) {
            Ok(p) => prepared.push(p),
            Err(errs) => errors.extend(errs.into_iter().map(|mut e| {
                e.field = format!("{}.{}", first_index + i, e.field);
                e
            })),
        }
    }
    if !errors.is_empty() {
        return BulkBatch {
            ids: Vec::new(),
            plain: Vec::new(),
            statements: Vec::new(),
            errors,
        };
    }
    for (field, values) in numbers {
        for (doc, number) in prepared.iter_mut().zip(values) {
            doc.insert(field.clone(), Value::String(number));
        }
    }
    let new_rows: Vec<NewRow> = prepared
        .into_iter()
        .map(|plain| NewRow {
            id: Uuid::now_v7(),
            sealed: projection::seal(rt, &plain, None, None, keys),
            plain,
        })
        .collect();
    let statements = rows::insert_statements(rt, &new_rows, actor, now, keys, backend);
    let ids = new_rows.iter().map(|r| r.id).collect();
    let plain = new_rows.into_iter().map(|r| r.plain).collect();
    BulkBatch {
        ids,
        plain,
        statements,
        errors,
    }
}

impl Engine {
    /// Creates many records in one transaction, validated one by one and stored in batches:
    /// the path of imports, demo data and integrations that push in bulk. Every record or none;
    /// every invalid document's errors are returned, with `field` prefixed by its index
    /// (`3.phone`). While the store writes one batch, the next is validated, sealed and built
    /// on a blocking thread.
    pub async fn create_records_bulk(
        &self,
        principal: &Principal,
        entity: &str,
        documents: Vec<Map<String, Value>>,
        lang: Lang,
    ) -> Result<Vec<Uuid>> {
        let rt = self.entity(entity).await?;
        principal.require(entity, Action::Create)?;
        let ctx = self.prepare_context(lang);
        let now = self.now();
        let backend = self.db.backend();
        let mut batches = Vec::new();
        let mut documents = documents.into_iter().peekable();
        while documents.peek().is_some() {
            batches.push(documents.by_ref().take(BULK_BATCH).collect::<Vec<_>>());
        }
        let spawn = |documents: Vec<Map<String, Value>>, first_index: usize, numbers| {
            let (rt, keys, actor) = (rt.clone(), self.keys.clone(), principal.actor.clone());
            tokio::task::spawn_blocking(move || {
                build_bulk_batch(
                    &rt,
                    &keys,
                    &ctx,
                    documents,
                    first_index,
                    numbers,
                    &actor,
                    now,
                    backend,
                )
            })
        };
        let mut tx = self.db.begin().await?;
        let mut ids = Vec::new();
        let mut errors: Vec<FieldError> = Vec::new();
        let mut next_index = 0;
        let mut batches = batches.into_iter();
        let mut pending = match batches.next() {
            Some(first) => {
                let numbers = self
                    .reserve_autonumbers(&mut tx.conn(), &rt, first.len())
                    .await?;
                next_index = first.len();
                Some(spawn(first, 0, numbers))
            }
            None => None,
        };
        while let Some(handle) = pending.take() {
            let batch = handle.await.map_err(EngineError::internal)?;
            if let Some(next) = batches.next() {
                let numbers = if errors.is_empty() && batch.errors.is_empty() {
                    self.reserve_autonumbers(&mut tx.conn(), &rt, next.len())
                        .await?
                } else {
                    Vec::new()
                };
                let first_index = next_index;
                next_index += next.len();
                pending = Some(spawn(next, first_index, numbers));
            }
            if !batch.errors.is_empty() || !errors.is_empty() {
                // Keep validating the rest, so every problem is reported at once.
                errors.extend(batch.errors);
                continue;
            }
            let refs: Vec<&Map<String, Value>> = batch.plain.iter().collect();
            let ref_errors = self
                .check_references(&mut tx.conn(), &rt, &refs, lang)
                .await?;
            let first_index = ids.len();
            for (i, errs) in ref_errors.into_iter().enumerate() {
                errors.extend(errs.into_iter().map(|mut e| {
                    e.field = format!("{}.{}", first_index + i, e.field);
                    e
                }));
            }
            if !errors.is_empty() {
                continue;
            }
            self.store_built(
                &mut tx.conn(),
                &rt,
                &principal.actor,
                now,
                (&batch.ids, &batch.plain, batch.statements),
            )
            .await?;
            ids.extend(batch.ids);
        }
        if !errors.is_empty() {
            return Err(EngineError::Validation { details: errors });
        }
        audit::append(
            &mut tx.conn(),
            self.clock.as_ref(),
            &AuditEntry::new(&principal.actor, "record.create_many")
                .entity(rt.name())
                .detail(serde_json::json!({ "count": ids.len() })),
        )
        .await?;
        tx.commit().await.map_err(|e| map_write_error(&rt, e))?;
        self.events_committed();
        self.refresh_statistics(&rt, ids.len()).await;
        Ok(ids)
    }
}
