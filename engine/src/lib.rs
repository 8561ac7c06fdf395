//! Kangdao's engine: every rule of forms, records, access and storage. It knows nothing of
//! HTTP; the server calls it and maps its errors.

pub mod clock;
pub mod error;
pub mod expr;
pub mod forms;
pub mod i18n;
pub mod io;
pub mod names;
pub mod query;

pub use error::{EngineError, FieldError, Result};
pub use i18n::{Label, Lang};
pub use names::{EntityName, FieldName};
pub mod access;
pub mod crypto;
pub mod engine;
pub mod entities;
pub mod flows;
pub mod jobs;
pub mod masking;
pub mod packs;
pub mod records;
pub mod reports;
pub mod store;

pub use engine::{Engine, Settings};
