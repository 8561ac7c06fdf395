//! The compiled definitions and physical field layout of every entity, cached in memory.

use super::storage::{table_name, FieldStorage, PinyinColumns, StorageKind};
use crate::error::{EngineError, Result};
use crate::forms::{CompiledEntity, EntityDefinition, FieldType};
use crate::i18n::Lang;
use crate::store::Db;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// One entity as the engine works with it.
pub struct EntityRuntime {
    pub compiled: CompiledEntity,
    pub version: i64,
    pub table: String,
    /// Every field that ever had a physical home, removed ones included.
    pub storage: BTreeMap<String, FieldStorage>,
}

impl EntityRuntime {
    pub fn name(&self) -> &str {
        self.compiled.definition().name.as_str()
    }

    pub fn definition(&self) -> &EntityDefinition {
        self.compiled.definition()
    }

    /// The storage of a field of the current definition.
    pub fn field_storage(&self, field: &str) -> Option<&FieldStorage> {
        self.definition().field(field)?;
        self.storage.get(field)
    }

    /// Column fields of the current definition, in definition order.
    pub fn columns(&self) -> impl Iterator<Item = &FieldStorage> {
        self.definition()
            .fields
            .iter()
            .filter_map(|f| self.storage.get(f.name.as_str()))
            .filter(|fs| matches!(fs.kind, StorageKind::Column(_)))
    }

    pub fn side_tables(&self) -> impl Iterator<Item = &FieldStorage> {
        self.definition()
            .fields
            .iter()
            .filter_map(|f| self.storage.get(f.name.as_str()))
            .filter(|fs| matches!(fs.kind, StorageKind::SideTable(_)))
    }

    /// The field a unique index enforces, for naming it in a 409.
    pub fn field_of_unique_index(&self, index: &str) -> Option<&str> {
        self.storage
            .values()
            .find(|fs| fs.unique_index.as_deref() == Some(index))
            .map(|fs| fs.field.as_str())
    }

    pub fn field_of_column(&self, column: &str) -> Option<&str> {
        self.storage
            .values()
            .find(|fs| fs.column() == Some(column))
            .map(|fs| fs.field.as_str())
    }
}

/// How long a cached definition is trusted before it is checked against the database, so
/// several instances on one PostgreSQL see each other's changes.
const REFRESH_AFTER: Duration = Duration::from_secs(2);

#[derive(Default)]
pub struct Catalog {
    inner: RwLock<CatalogState>,
    /// One reload at a time: a reload that read before a change committed must not install
    /// its older picture over one that read after.
    reloading: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct CatalogState {
    entities: HashMap<String, Arc<EntityRuntime>>,
    loaded_at: Option<Instant>,
}

impl Catalog {
    /// Reads every definition and field layout from the database.
    pub async fn reload(&self, db: &Db) -> Result<()> {
        let _one_at_a_time = self.reloading.lock().await;
        let rows = db
            .fetch_all(
                "SELECT name, version, definition FROM entities ORDER BY name",
                vec![],
            )
            .await?;
        let field_rows = db
            .fetch_all(
                "SELECT entity, field, field_type, storage, sql_name, sensitive, unique_index, plain_index \
                 FROM entity_fields",
                vec![],
            )
            .await?;
        let mut layouts: HashMap<String, BTreeMap<String, FieldStorage>> = HashMap::new();
        for row in field_rows {
            let entity = row.req_text("entity")?;
            let field = row.req_text("field")?;
            let value_type: FieldType =
                serde_json::from_value(serde_json::Value::String(row.req_text("field_type")?))
                    .map_err(EngineError::internal)?;
            let sql_name = row.text("sql_name")?;
            let kind = match (row.req_text("storage")?.as_str(), sql_name) {
                ("column", Some(c)) => StorageKind::Column(c),
                ("side_table", Some(t)) => StorageKind::SideTable(t),
                _ => StorageKind::DocumentOnly,
            };
            let sensitive = row.bool("sensitive")?.unwrap_or(false);
            layouts.entry(entity).or_default().insert(
                field.clone(),
                FieldStorage {
                    pinyin: PinyinColumns::of(&field, value_type, sensitive, &kind),
                    field,
                    value_type,
                    kind,
                    sensitive,
                    unique_index: row.text("unique_index")?,
                    plain_index: row.text("plain_index")?,
                },
            );
        }
        let mut entities = HashMap::new();
        for row in rows {
            let name = row.req_text("name")?;
            let def: EntityDefinition = serde_json::from_value(row.req_json("definition")?)
                .map_err(EngineError::internal)?;
            let compiled = CompiledEntity::compile(def, Lang::En)?;
            let runtime = EntityRuntime {
                compiled,
                version: row.req_int("version")?,
                table: table_name(&name),
                storage: layouts.remove(&name).unwrap_or_default(),
            };
            entities.insert(name, Arc::new(runtime));
        }
        let mut state = self.inner.write().unwrap_or_else(|e| e.into_inner());
        state.entities = entities;
        state.loaded_at = Some(Instant::now());
        Ok(())
    }

    fn is_fresh(&self) -> bool {
        let state = self.inner.read().unwrap_or_else(|e| e.into_inner());
        state.loaded_at.is_some_and(|t| t.elapsed() < REFRESH_AFTER)
    }

    /// Every few seconds, asks the database for the definitions' versions — one small query —
    /// and recompiles only when another instance changed something.
    async fn refresh_if_stale(&self, db: &Db) -> Result<()> {
        if self.is_fresh() {
            return Ok(());
        }
        let rows = db
            .fetch_all("SELECT name, version FROM entities", vec![])
            .await?;
        let unchanged = {
            let state = self.inner.read().unwrap_or_else(|e| e.into_inner());
            rows.len() == state.entities.len()
                && rows.iter().all(|row| {
                    let (Ok(name), Ok(version)) = (row.req_text("name"), row.req_int("version"))
                    else {
                        return false;
                    };
                    state
                        .entities
                        .get(&name)
                        .is_some_and(|rt| rt.version == version)
                })
        };
        if unchanged {
            let mut state = self.inner.write().unwrap_or_else(|e| e.into_inner());
            state.loaded_at = Some(Instant::now());
            Ok(())
        } else {
            self.reload(db).await
        }
    }

    pub async fn get(&self, db: &Db, name: &str) -> Result<Arc<EntityRuntime>> {
        self.refresh_if_stale(db).await?;
        let state = self.inner.read().unwrap_or_else(|e| e.into_inner());
        state
            .entities
            .get(name)
            .cloned()
            .ok_or_else(|| EngineError::not_found(format!("entity {name}")))
    }

    /// The entity as last loaded, without asking the database: for checks made inside a
    /// write's transaction, and for presenting stored values.
    pub fn cached(&self, name: &str) -> Option<Arc<EntityRuntime>> {
        let state = self.inner.read().unwrap_or_else(|e| e.into_inner());
        state.entities.get(name).cloned()
    }

    pub async fn all(&self, db: &Db) -> Result<Vec<Arc<EntityRuntime>>> {
        self.refresh_if_stale(db).await?;
        let state = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<_> = state.entities.values().cloned().collect();
        all.sort_by(|a, b| a.name().cmp(b.name()));
        Ok(all)
    }
}
