//! Template packs: definitions as data files. On disk a pack is `manifest.json` plus a folder
//! per kind (`entities/<name>.json`, later `flows/`, `charts/` …); over HTTP it will travel as
//! one JSON document. This module reads that format; installing is the definition service's
//! (`Engine::apply_definitions`), so a pack's entities pass every check a designer's do.
//!
//! The built-in `core` pack (task, message, consent) is embedded in the binary and installed
//! at start-up before anything else ([`Engine::install_core_pack`]). Its entities cannot be
//! deleted and their fields cannot be removed or changed; packs and designers may add fields.

use crate::engine::Engine;
use crate::error::{EngineError, FieldError, Result};
use crate::forms::{EntityDefinition, FieldDef};
use crate::i18n::{Label, Lang};
use crate::names::check_slug;
use crate::store::Backend;
use once_cell::sync::Lazy;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The built-in pack's name.
pub const CORE: &str = "core";

/// The advisory lock key serializing pack installs across instances ("kdpack\0\0").
const PACK_INSTALL_LOCK: i64 = 0x6b64_7061_636b_0000;

/// Why a pack's files are not a pack. Never holds a value from a record: packs hold
/// definitions only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackError {
    #[error("the pack has no manifest.json")]
    NoManifest,
    #[error("{path}: not valid JSON of its kind: {cause}")]
    Malformed { path: String, cause: String },
    #[error("{path}: a pack holds manifest.json and <kind>/<name>.json files only")]
    UnexpectedFile { path: String },
    #[error("{path}: the kind {kind} is not supported yet")]
    UnsupportedKind { path: String, kind: String },
    #[error("{path}: the file name must be the definition's name ({name}.json)")]
    NameMismatch { path: String, name: String },
    #[error("the pack name {0:?} is not a valid name")]
    BadName(String),
}

impl From<PackError> for EngineError {
    fn from(e: PackError) -> Self {
        EngineError::bad_request(e.to_string())
    }
}

/// `manifest.json`: what a pack is and what it needs installed first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackManifest {
    pub name: String,
    /// Semantic version (`1.0.0`).
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Label>,
    /// Packs that must be installed before this one.
    #[serde(default)]
    pub depends: Vec<String>,
}

/// A pack read from its files.
#[derive(Debug, Clone)]
pub struct Pack {
    pub manifest: PackManifest,
    /// Entity definitions as their files hold them, in file-name order (references between
    /// them may go either way: they are installed in one batch).
    pub entities: Vec<Value>,
}

/// The kinds a pack may hold (DESIGN.md, "Template packs"); only `entities` is read so far.
const KINDS: [&str; 7] = [
    "entities",
    "flows",
    "charts",
    "dashboards",
    "roles",
    "segments",
    "templates",
];

impl Pack {
    /// Reads a pack from its files: `(path relative to the pack folder, contents)`.
    pub fn from_files<'a>(
        files: impl IntoIterator<Item = (String, &'a [u8])>,
    ) -> Result<Pack, PackError> {
        let mut manifest = None;
        let mut entities: Vec<(String, Value)> = Vec::new();
        for (path, bytes) in files {
            let path = path.replace('\\', "/");
            let parse = |bytes: &[u8]| -> Result<Value, PackError> {
                serde_json::from_slice(bytes).map_err(|e| PackError::Malformed {
                    path: path.clone(),
                    cause: e.to_string(),
                })
            };
            if path == "manifest.json" {
                let m: PackManifest =
                    serde_json::from_value(parse(bytes)?).map_err(|e| PackError::Malformed {
                        path: path.clone(),
                        cause: e.to_string(),
                    })?;
                if check_slug(&m.name).is_err() {
                    return Err(PackError::BadName(m.name));
                }
                manifest = Some(m);
                continue;
            }
            let Some((kind, file)) = path.split_once('/') else {
                return Err(PackError::UnexpectedFile { path });
            };
            let Some(stem) = file.strip_suffix(".json").filter(|s| !s.contains('/')) else {
                return Err(PackError::UnexpectedFile { path });
            };
            if !KINDS.contains(&kind) {
                return Err(PackError::UnexpectedFile { path });
            }
            if kind != "entities" {
                return Err(PackError::UnsupportedKind {
                    kind: kind.to_string(),
                    path,
                });
            }
            let definition = parse(bytes)?;
            let name = definition.get("name").and_then(Value::as_str);
            if name != Some(stem) {
                return Err(PackError::NameMismatch {
                    name: name.unwrap_or_default().to_string(),
                    path,
                });
            }
            entities.push((stem.to_string(), definition));
        }
        entities.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Pack {
            manifest: manifest.ok_or(PackError::NoManifest)?,
            entities: entities.into_iter().map(|(_, d)| d).collect(),
        })
    }
}

#[derive(rust_embed::RustEmbed)]
#[folder = "packs/core/"]
struct CorePackFiles;

/// The built-in `core` pack, from the files embedded in the binary.
pub fn core_pack() -> Result<Pack, PackError> {
    let files: Vec<(String, std::borrow::Cow<'static, [u8]>)> = CorePackFiles::iter()
        .filter_map(|path| CorePackFiles::get(&path).map(|f| (path.to_string(), f.data)))
        .collect();
    Pack::from_files(files.iter().map(|(p, b)| (p.clone(), b.as_ref())))
}

/// The core pack's entity definitions, parsed once: what core entities must keep.
static CORE_ENTITIES: Lazy<Vec<EntityDefinition>> = Lazy::new(|| {
    core_pack()
        .ok()
        .map(|pack| {
            pack.entities
                .into_iter()
                .filter_map(|v| serde_json::from_value(v).ok())
                .collect()
        })
        .unwrap_or_default()
});

/// The core pack's definition of `entity`, if it is a core entity.
pub fn core_entity(entity: &str) -> Option<&'static EntityDefinition> {
    CORE_ENTITIES.iter().find(|d| d.name.as_str() == entity)
}

/// Whether `entity` comes from the core pack (and so cannot be deleted).
pub fn is_core_entity(entity: &str) -> bool {
    core_entity(entity).is_some()
}

/// A field as the core-field rule compares it: labels and help text may change freely.
fn core_shape(field: &FieldDef) -> FieldDef {
    FieldDef {
        label: None,
        help: None,
        ..field.clone()
    }
}

/// The problems a new definition of a core entity has: a core field removed, or changed in
/// anything but its label and help (400, `core_field`). Adding fields is allowed.
pub fn core_field_problems(def: &EntityDefinition, lang: Lang) -> Vec<FieldError> {
    let Some(core) = core_entity(def.name.as_str()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for field in &core.fields {
        let name = field.name.as_str();
        match def.fields.iter().position(|f| f.name == field.name) {
            None => out.push(FieldError::new(
                "fields",
                "core_field",
                match lang {
                    Lang::Zh => format!("{name} 是核心字段，不能删除"),
                    Lang::En => format!("{name} is a core field and cannot be removed"),
                },
            )),
            Some(i) if core_shape(&def.fields[i]) != core_shape(field) => {
                out.push(FieldError::new(
                    format!("fields.{i}"),
                    "core_field",
                    match lang {
                        Lang::Zh => format!("{name} 是核心字段，只能修改名称和说明"),
                        Lang::En => {
                            format!("{name} is a core field: only its label and help may change")
                        }
                    },
                ))
            }
            Some(_) => {}
        }
    }
    out
}

/// An existing entity of a core entity's name with the core fields it lacks appended (and the
/// core `owner_field` where it has none). A field it has that differs from the core field of
/// that name cannot be reconciled: the server does not start, and says which.
fn merge_core_fields(
    existing: &EntityDefinition,
    core: &EntityDefinition,
) -> Result<EntityDefinition> {
    let mut merged = existing.clone();
    for field in &core.fields {
        match existing.field(field.name.as_str()) {
            None => merged.fields.push(field.clone()),
            Some(have) if core_shape(have) != core_shape(field) => {
                return Err(EngineError::Configuration(format!(
                    "the entity {} exists already, and its field {} differs from the core pack's; \
                     rename that entity's field or export and remove the entity, then start again",
                    core.name, field.name
                )))
            }
            Some(_) => {}
        }
    }
    if merged.owner_field.is_none() {
        merged.owner_field = core.owner_field.clone();
    }
    Ok(merged)
}

impl Engine {
    /// Installs the built-in `core` pack once per database, before anything else runs: its
    /// entities are created as the actor `system` and the pack is recorded in `packs`. On
    /// PostgreSQL an advisory lock serializes instances starting together, so one installs
    /// and the others find it installed; on SQLite one process holds the file.
    pub(crate) async fn install_core_pack(&self) -> Result<()> {
        let mut holder = self.db.acquire().await?;
        let pg = self.db.backend() == Backend::Postgres;
        if pg {
            holder
                .conn()
                .execute(
                    "SELECT pg_advisory_lock($1)",
                    vec![PACK_INSTALL_LOCK.into()],
                )
                .await?;
        }
        let mut outcome = self.install_core_pack_locked().await;
        // SQLite has no advisory lock: two processes starting on one file may both try, and
        // the later one meets the earlier one's entities as a conflict. It looks again, and
        // then finds them installed.
        for _ in 0..2 {
            match &outcome {
                Err(EngineError::Conflict(_) | EngineError::VersionConflict { .. }) => {
                    self.catalog.reload(&self.db).await?;
                    outcome = self.install_core_pack_locked().await;
                }
                _ => break,
            }
        }
        let outcome = outcome.map_err(|e| match e {
            EngineError::BadRequest { message, details } => {
                let causes: Vec<String> = details
                    .iter()
                    .map(|d| format!("{}: {}", d.field, d.message))
                    .collect();
                EngineError::Configuration(format!(
                    "installing the built-in core pack failed: {message} {}",
                    causes.join("; ")
                ))
            }
            other => other,
        });
        if pg {
            holder
                .conn()
                .execute(
                    "SELECT pg_advisory_unlock($1)",
                    vec![PACK_INSTALL_LOCK.into()],
                )
                .await?;
        }
        outcome
    }

    async fn install_core_pack_locked(&self) -> Result<()> {
        let installed = self
            .db
            .fetch_optional(
                "SELECT version FROM packs WHERE name = $1",
                vec![CORE.into()],
            )
            .await?
            .is_some();
        if installed {
            return Ok(());
        }
        let pack = core_pack()
            .map_err(|e| EngineError::internal(format!("the built-in core pack: {e}")))?;
        let system = crate::access::Principal::system();
        let mut definitions = Vec::new();
        for definition in pack.entities {
            let core: EntityDefinition =
                serde_json::from_value(definition.clone()).map_err(EngineError::internal)?;
            match self.catalog.get(&self.db, core.name.as_str()).await {
                // A database older than the core pack, whose designers made an entity of the
                // same name: it gains the core fields it lacks (nothing of it is dropped).
                Ok(existing) => {
                    let merged = merge_core_fields(existing.definition(), &core)?;
                    if &merged != existing.definition() {
                        definitions
                            .push(serde_json::to_value(merged).map_err(EngineError::internal)?);
                    }
                }
                Err(EngineError::NotFound { .. }) => definitions.push(definition),
                Err(e) => return Err(e),
            }
        }
        if !definitions.is_empty() {
            self.apply_definitions(&system, definitions, false, Lang::En)
                .await?;
        }
        let manifest = serde_json::to_value(&pack.manifest).map_err(EngineError::internal)?;
        self.db
            .execute(
                "INSERT INTO packs (name, version, manifest, installed_at, installed_by) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
                vec![
                    CORE.into(),
                    pack.manifest.version.clone().into(),
                    manifest.into(),
                    self.now().into(),
                    system.actor.clone().into(),
                ],
            )
            .await?;
        tracing::info!(version = %pack.manifest.version, "installed the core pack");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forms::CompiledEntity;

    #[test]
    fn the_core_pack_reads_and_its_entities_compile() {
        let pack = core_pack().unwrap();
        assert_eq!(pack.manifest.name, "core");
        assert_eq!(pack.manifest.version, "1.0.0");
        assert!(pack.manifest.depends.is_empty());
        let names: Vec<&str> = pack
            .entities
            .iter()
            .filter_map(|d| d["name"].as_str())
            .collect();
        assert_eq!(names, ["consent", "message", "task"]);
        for definition in pack.entities {
            let def: EntityDefinition = serde_json::from_value(definition).unwrap();
            let name = def.name.to_string();
            CompiledEntity::compile(def, Lang::En)
                .unwrap_or_else(|e| panic!("{name}: {:?}", e.details()));
        }
        assert!(is_core_entity("task") && !is_core_entity("patient"));
    }

    #[test]
    fn pack_files_are_checked_for_shape_and_names() {
        let manifest = br#"{"name": "demo", "version": "0.1.0"}"#.as_slice();
        let entity = br#"{"name": "visit", "fields": []}"#.as_slice();
        let read = |files: Vec<(&str, &'static [u8])>| {
            Pack::from_files(files.into_iter().map(|(p, b)| (p.to_string(), b)))
        };
        let pack = read(vec![
            ("manifest.json", manifest),
            ("entities/visit.json", entity),
        ])
        .unwrap();
        assert_eq!(pack.entities.len(), 1);
        assert_eq!(
            read(vec![("entities/visit.json", entity)]).unwrap_err(),
            PackError::NoManifest
        );
        assert!(matches!(
            read(vec![
                ("manifest.json", manifest),
                ("entities/patient.json", entity)
            ]),
            Err(PackError::NameMismatch { .. })
        ));
        assert!(matches!(
            read(vec![
                ("manifest.json", manifest),
                ("flows/visit.json", entity)
            ]),
            Err(PackError::UnsupportedKind { .. })
        ));
        assert!(matches!(
            read(vec![("manifest.json", manifest), ("notes.txt", entity)]),
            Err(PackError::UnexpectedFile { .. })
        ));
        assert!(matches!(
            read(vec![(
                "manifest.json",
                br#"{"name": "Demo", "version": "1"}"#.as_slice()
            )]),
            Err(PackError::BadName(_))
        ));
        assert!(matches!(
            read(vec![("manifest.json", b"{".as_slice())]),
            Err(PackError::Malformed { .. })
        ));
    }

    #[test]
    fn core_fields_may_be_relabelled_and_added_to_but_not_changed_or_removed() {
        let mut consent = core_entity("consent").unwrap().clone();
        assert!(core_field_problems(&consent, Lang::En).is_empty());
        consent.fields[0].label = Some(Label {
            zh: Some("患者".into()),
            en: None,
        });
        let mut extra = FieldDef::new(
            crate::names::FieldName::new("patient").unwrap(),
            crate::forms::FieldType::Text,
        );
        extra.indexed = true;
        consent.fields.push(extra);
        assert!(core_field_problems(&consent, Lang::En).is_empty());
        consent.fields[1].required = false;
        consent.fields.remove(2);
        let problems = core_field_problems(&consent, Lang::Zh);
        let found: Vec<(&str, &str)> = problems
            .iter()
            .map(|p| (p.field.as_str(), p.code.as_str()))
            .collect();
        assert_eq!(
            found,
            [("fields.1", "core_field"), ("fields", "core_field")]
        );
        assert!(problems[1].message.contains("channel"), "{problems:?}");
    }
}
