//! Record writes: validate, check references and uniqueness, number, seal, store, and keep
//! history and audit in the same transaction.

use super::projection;
use super::rows::{self, NewRow};
use super::{Record, StoredRecord};
use crate::access::audit::{self, AuditEntry};
use crate::access::{Action, Principal};
use crate::engine::Engine;
use crate::entities::storage::q;
use crate::entities::EntityRuntime;
use crate::error::{EngineError, FieldError, Result};
use crate::forms::{FieldType, PrepareContext};
use crate::i18n::Lang;
use crate::store::{Arg, Backend, Conn};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
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
    fn prepare_context(&self, lang: Lang) -> PrepareContext {
        PrepareContext {
            lang,
            today: self.today(),
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
        Ok(errors)
    }

    /// A unique field's value must not be held by another live record.
    pub(crate) async fn check_unique(
        &self,
        conn: &mut Conn<'_>,
        rt: &EntityRuntime,
        plain: &Map<String, Value>,
        except: Option<Uuid>,
    ) -> Result<()> {
        for fs in rt.columns().filter(|fs| fs.unique_index.is_some()) {
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

    /// Gives every autonumber field of `docs` its next numbers (P2026000001), reserving a block
    /// per field in one statement.
    pub(crate) async fn assign_autonumbers(
        &self,
        conn: &mut Conn<'_>,
        rt: &EntityRuntime,
        docs: &mut [Map<String, Value>],
    ) -> Result<()> {
        let year = self.today().year();
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
            let yearly = field.yearly.unwrap_or(true);
            let period = if yearly {
                year.to_string()
            } else {
                "all".to_string()
            };
            let count = pending.len() as i64;
            let last = conn
                .fetch_one(
                    "INSERT INTO sequences (entity, field, period, last_value) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (entity, field, period) DO UPDATE SET last_value = sequences.last_value + $4 \
                     RETURNING last_value",
                    vec![rt.name().into(), field.name.as_str().into(), period.clone().into(), count.into()],
                )
                .await?
                .req_int("last_value")?;
            let digits = usize::from(field.digits.unwrap_or(6));
            let prefix = field.prefix.clone().unwrap_or_default();
            for (n, &i) in pending.iter().enumerate() {
                let value = last - count + 1 + n as i64;
                let number = if yearly {
                    format!("{prefix}{year}{value:0digits$}")
                } else {
                    format!("{prefix}{value:0digits$}")
                };
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
        tx.commit().await.map_err(|e| map_write_error(&rt, e))?;
        let id = ids
            .first()
            .copied()
            .ok_or_else(|| EngineError::internal("no record inserted"))?;
        self.get_record(principal, entity, id, &[], lang).await
    }

    /// Inserts validated documents: references, uniqueness, numbers, sealing, history, audit.
    /// Every document or none.
    pub(crate) async fn insert_prepared(
        &self,
        conn: &mut Conn<'_>,
        rt: &EntityRuntime,
        principal: &Principal,
        mut docs: Vec<Map<String, Value>>,
        lang: Lang,
    ) -> Result<Vec<Uuid>> {
        let refs: Vec<&Map<String, Value>> = docs.iter().collect();
        let ref_errors = self.check_references(conn, rt, &refs, lang).await?;
        if let Some(details) = ref_errors.into_iter().find(|e| !e.is_empty()) {
            return Err(EngineError::Validation { details });
        }
        if docs.len() == 1 {
            self.check_unique(conn, rt, &docs[0], None).await?;
        }
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
        rows::insert_rows(conn, rt, &rows, &principal.actor, now, &self.keys).await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        if let [row] = rows.as_slice() {
            audit::append(
                conn,
                self.clock.as_ref(),
                &AuditEntry::new(&principal.actor, "record.create")
                    .record(rt.name(), row.id.to_string())
                    .fields(row.plain.keys().cloned().collect()),
            )
            .await?;
        } else {
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
        self.apply_update(&mut tx.conn(), &rt, principal, &stored, &data, lang)
            .await
            .map_err(|e| map_write_error(&rt, e))?;
        tx.commit().await.map_err(|e| map_write_error(&rt, e))?;
        self.get_record(principal, entity, id, &[], lang).await
    }

    async fn apply_update(
        &self,
        conn: &mut Conn<'_>,
        rt: &EntityRuntime,
        principal: &Principal,
        stored: &StoredRecord,
        data: &Map<String, Value>,
        lang: Lang,
    ) -> Result<()> {
        let existing = projection::unseal(rt, &stored.sealed, &self.keys)?;
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
            return Ok(());
        }
        let ref_errors = self.check_references(conn, rt, &[&plain], lang).await?;
        if let Some(details) = ref_errors.into_iter().find(|e| !e.is_empty()) {
            return Err(EngineError::Validation { details });
        }
        self.check_unique(conn, rt, &plain, Some(stored.id)).await?;
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
        rows::write_change(
            conn,
            rt.name(),
            stored.id,
            stored.version + 1,
            "update",
            &sealed,
            changed.clone(),
            &principal.actor,
            now,
        )
        .await?;
        audit::append(
            conn,
            self.clock.as_ref(),
            &AuditEntry::new(&principal.actor, "record.update")
                .record(rt.name(), stored.id.to_string())
                .fields(changed),
        )
        .await?;
        Ok(())
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
        self.check_unique(&mut tx.conn(), &rt, &plain, Some(id))
            .await?;
        self.set_deleted(&mut tx.conn(), &rt, principal, &stored, false)
            .await
            .map_err(|e| map_write_error(&rt, e))?;
        tx.commit().await.map_err(|e| map_write_error(&rt, e))?;
        self.get_record(principal, entity, id, &[], lang).await
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
        rows::write_change(
            conn,
            rt.name(),
            stored.id,
            stored.version + 1,
            op,
            &stored.sealed,
            Vec::new(),
            &principal.actor,
            now,
        )
        .await?;
        audit::append(
            conn,
            self.clock.as_ref(),
            &AuditEntry::new(&principal.actor, format!("record.{op}"))
                .record(rt.name(), stored.id.to_string()),
        )
        .await?;
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
                self.apply_update(&mut tx.conn(), &rt, principal, &stored, &data, lang)
                    .await
                    .map_err(|e| map_write_error(&rt, e))?;
                (stored.id, false)
            }
            None => {
                principal.require(entity, Action::Create)?;
                if if_match.is_some() {
                    return Err(EngineError::not_found(format!("{entity} {field}={value}")));
                }
                data.insert(field.to_string(), key_value);
                let plain = rt
                    .compiled
                    .prepare(&data, None, &self.prepare_context(lang))
                    .map_err(|details| EngineError::Validation { details })?;
                let ids = self
                    .insert_prepared(&mut tx.conn(), &rt, principal, vec![plain], lang)
                    .await
                    .map_err(|e| map_write_error(&rt, e))?;
                (
                    ids.first()
                        .copied()
                        .ok_or_else(|| EngineError::internal("no record inserted"))?,
                    true,
                )
            }
        };
        tx.commit().await.map_err(|e| map_write_error(&rt, e))?;
        Ok(UpsertOutcome {
            record: self.get_record(principal, entity, id, &[], lang).await?,
            created,
        })
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

impl Engine {
    /// Creates many records in one transaction, validated one by one and stored in batches:
    /// the path of imports, demo data and integrations that push in bulk. Every record or none;
    /// the first invalid document's errors are returned, with `field` prefixed by its index
    /// (`3.phone`).
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
        let mut prepared = Vec::with_capacity(documents.len());
        let mut details = Vec::new();
        for (i, doc) in documents.iter().enumerate() {
            match rt.compiled.prepare(doc, None, &ctx) {
                Ok(p) => prepared.push(p),
                Err(errors) => details.extend(errors.into_iter().map(|mut e| {
                    e.field = format!("{i}.{}", e.field);
                    e
                })),
            }
        }
        if !details.is_empty() {
            return Err(EngineError::Validation { details });
        }
        let mut tx = self.db.begin().await?;
        let mut ids = Vec::with_capacity(prepared.len());
        let mut batch = Vec::new();
        for doc in prepared {
            batch.push(doc);
            if batch.len() == 500 {
                let docs = std::mem::take(&mut batch);
                ids.extend(
                    self.insert_prepared(&mut tx.conn(), &rt, principal, docs, lang)
                        .await
                        .map_err(|e| map_write_error(&rt, e))?,
                );
            }
        }
        if !batch.is_empty() {
            ids.extend(
                self.insert_prepared(&mut tx.conn(), &rt, principal, batch, lang)
                    .await
                    .map_err(|e| map_write_error(&rt, e))?,
            );
        }
        tx.commit().await.map_err(|e| map_write_error(&rt, e))?;
        Ok(ids)
    }
}
