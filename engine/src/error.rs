//! The engine's errors. The server maps each to one HTTP answer, in one place.

use crate::i18n::Lang;
use serde::Serialize;

/// One problem with one field (or, for import, one cell, column or line of the file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The line of an imported file (1 is the header), where the problem is in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The flow node a problem of a flow definition is in (`trigger` for the trigger).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub field: String,
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        FieldError {
            line: None,
            node: None,
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }

    /// A problem on one line of an imported file, in the import error shape.
    pub fn at_line(
        line: usize,
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        FieldError {
            line: Some(line),
            ..FieldError::new(field, code, message)
        }
    }

    /// A problem in one node of a flow definition.
    pub fn in_node(
        node: Option<&str>,
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        FieldError {
            node: node.map(str::to_string),
            ..FieldError::new(field, code, message)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The request is not of the documented shape, or names an unknown entity or field.
    #[error("bad request: {message}")]
    BadRequest {
        message: String,
        details: Vec<FieldError>,
    },
    #[error("not authenticated")]
    Unauthenticated,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("version conflict: the record is at version {current}")]
    VersionConflict { current: i64 },
    #[error("unique violation on {field}")]
    UniqueViolation { field: String },
    /// Data breaking its definition; every problem at once.
    #[error("validation failed")]
    Validation { details: Vec<FieldError> },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("rate limited, retry after {retry_after_secs}s")]
    RateLimited { retry_after_secs: u64 },
    /// The key file does not match the key the database was written with, and the like.
    #[error("{0}")]
    Configuration(String),
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("internal: {0}")]
    Internal(String),
    /// A job's lease no longer holds it (another worker took it after the lease expired, or it
    /// was cancelled or released): the transaction that tried to finish it must roll back, so
    /// the lost attempt commits nothing (`jobs`).
    #[error("the lease on job {job} was lost")]
    LeaseLost { job: uuid::Uuid },
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

impl EngineError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        EngineError::BadRequest {
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// Whether the database refused a write for a unique constraint.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, EngineError::Storage(sqlx::Error::Database(d)) if d.is_unique_violation())
    }

    /// Whether a job's lease was lost: the caller's transaction must roll back.
    pub fn is_lease_lost(&self) -> bool {
        matches!(self, EngineError::LeaseLost { .. })
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        EngineError::NotFound { what: what.into() }
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        EngineError::Internal(message.to_string())
    }

    /// The stable error code of DESIGN.md's precise rules.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::BadRequest { .. } => "bad_request",
            EngineError::Unauthenticated => "unauthenticated",
            EngineError::Forbidden(_) => "forbidden",
            EngineError::NotFound { .. } => "not_found",
            EngineError::VersionConflict { .. } => "version_conflict",
            EngineError::UniqueViolation { .. } => "unique_violation",
            EngineError::Validation { .. } => "validation_failed",
            EngineError::Conflict(_) => "conflict",
            EngineError::RateLimited { .. } => "rate_limited",
            EngineError::Configuration(_)
            | EngineError::Storage(_)
            | EngineError::Migration(_)
            | EngineError::Internal(_)
            | EngineError::LeaseLost { .. } => "internal",
        }
    }

    /// Per-field details, where the error has them.
    pub fn details(&self) -> &[FieldError] {
        match self {
            EngineError::BadRequest { details, .. } | EngineError::Validation { details } => {
                details
            }
            _ => &[],
        }
    }

    /// A message for the person who sent the request. Internal errors say nothing of their
    /// cause: that goes to the log.
    pub fn message(&self, lang: Lang) -> String {
        match self {
            EngineError::BadRequest { message, .. } => message.clone(),
            EngineError::Unauthenticated => lang.pick("请先登录", "Please log in").into(),
            EngineError::Forbidden(why) => match lang {
                Lang::Zh => format!("没有权限：{why}"),
                Lang::En => format!("Forbidden: {why}"),
            },
            EngineError::NotFound { what } => match lang {
                Lang::Zh => format!("未找到：{what}"),
                Lang::En => format!("Not found: {what}"),
            },
            EngineError::VersionConflict { current } => match lang {
                Lang::Zh => format!("记录已被他人修改（当前版本 {current}），请刷新后重试"),
                Lang::En => format!(
                    "The record was changed by someone else (now version {current}); reload and try again"
                ),
            },
            EngineError::UniqueViolation { field } => match lang {
                Lang::Zh => format!("字段 {field} 的值已存在"),
                Lang::En => format!("The value of {field} is already taken"),
            },
            EngineError::Validation { details } => match lang {
                Lang::Zh => format!("数据校验失败（{} 处错误）", details.len()),
                Lang::En => format!("Validation failed ({} problems)", details.len()),
            },
            EngineError::Conflict(why) => why.clone(),
            EngineError::RateLimited { retry_after_secs } => match lang {
                Lang::Zh => format!("尝试次数过多，请 {retry_after_secs} 秒后再试"),
                Lang::En => format!("Too many attempts; try again in {retry_after_secs} s"),
            },
            EngineError::Configuration(_)
            | EngineError::Storage(_)
            | EngineError::Migration(_)
            | EngineError::Internal(_)
            | EngineError::LeaseLost { .. } => lang.pick("服务器内部错误", "Internal server error").into(),
        }
    }
}
