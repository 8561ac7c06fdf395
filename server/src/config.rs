//! Configuration: defaults < `kangdao.toml` (or `--config`) < `KANGDAO_*` environment < flags.
//! Flags and environment are read by clap (each flag names its variable); the file fills what
//! neither gave.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Every key, as the file spells it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub bind: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub timezone: Option<String>,
    pub key_file: Option<PathBuf>,
    pub db_max_connections: Option<u32>,
    pub public_url: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub max_import_bytes: Option<usize>,
    pub token_max_days: Option<u32>,
    pub retention_days: Option<u32>,
    pub flow_webhook_allow: Option<Vec<String>>,
    pub log_level: Option<LogLevel>,
    pub log_format: Option<LogFormat>,
}

/// How much the server logs; `KANGDAO_LOG` (a full filter directive) wins over it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// How log lines are written: plain text (coloured only on a terminal) or one JSON object a
/// line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The settings the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: String,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub timezone: String,
    pub key_file: Option<PathBuf>,
    pub db_max_connections: u32,
    pub public_url: Option<String>,
    /// JSON bodies.
    pub max_body_bytes: usize,
    /// CSV/XLSX import bodies.
    pub max_import_bytes: usize,
    /// The longest an API token may live, in days; also the expiry of a token created without
    /// one.
    pub token_max_days: u32,
    /// Days finished flow runs, finished jobs and passed change events are kept.
    pub retention_days: u32,
    /// URL prefixes a flow's `webhook_call` may post to; none by default.
    pub flow_webhook_allow: Vec<String>,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
}

impl Config {
    /// Merges overrides (flags or environment) over the file over defaults.
    pub fn resolve(file: FileConfig, over: FileConfig) -> Config {
        let data_dir = over
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./data"));
        let database_url = over
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("kangdao.db").display()));
        Config {
            bind: over
                .bind
                .or(file.bind)
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
            database_url,
            timezone: over
                .timezone
                .or(file.timezone)
                .unwrap_or_else(|| "Asia/Shanghai".into()),
            key_file: over.key_file.or(file.key_file),
            db_max_connections: over
                .db_max_connections
                .or(file.db_max_connections)
                .unwrap_or(10),
            public_url: over.public_url.or(file.public_url),
            max_body_bytes: over
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(1024 * 1024),
            max_import_bytes: over
                .max_import_bytes
                .or(file.max_import_bytes)
                .unwrap_or(64 * 1024 * 1024),
            token_max_days: over
                .token_max_days
                .or(file.token_max_days)
                .unwrap_or(kangdao_engine::engine::DEFAULT_TOKEN_MAX_DAYS),
            retention_days: over
                .retention_days
                .or(file.retention_days)
                .unwrap_or(kangdao_engine::engine::DEFAULT_RETENTION_DAYS),
            flow_webhook_allow: over
                .flow_webhook_allow
                .or(file.flow_webhook_allow)
                .unwrap_or_default(),
            log_level: over.log_level.or(file.log_level).unwrap_or(LogLevel::Info),
            log_format: over
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Text),
            data_dir,
        }
    }

    /// Reads the file at `path`, or `kangdao.toml` in the working folder when it exists.
    pub fn read_file(path: Option<&Path>) -> Result<FileConfig, String> {
        let (path, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from("kangdao.toml"), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                Ok(FileConfig::default())
            }
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_environment_win_over_the_file_and_defaults_fill_the_rest() {
        let file: FileConfig = toml::from_str(
            "bind = \"0.0.0.0:9000\"\ndata_dir = \"/srv/kangdao\"\ntimezone = \"Asia/Urumqi\"",
        )
        .unwrap();
        let over = FileConfig {
            bind: Some("127.0.0.1:8081".into()),
            ..FileConfig::default()
        };
        let config = Config::resolve(file, over);
        assert_eq!(config.bind, "127.0.0.1:8081");
        assert_eq!(config.timezone, "Asia/Urumqi");
        assert_eq!(config.database_url, "sqlite:///srv/kangdao/kangdao.db");
        let defaults = Config::resolve(FileConfig::default(), FileConfig::default());
        assert_eq!(defaults.bind, "127.0.0.1:8080");
        assert_eq!(defaults.data_dir, PathBuf::from("./data"));
        assert!(!defaults.is_postgres());
        assert_eq!(defaults.token_max_days, 365);
        let file: FileConfig = toml::from_str("token_max_days = 90").unwrap();
        assert_eq!(
            Config::resolve(file, FileConfig::default()).token_max_days,
            90
        );
    }

    #[test]
    fn log_level_and_format_layer_like_every_key() {
        let defaults = Config::resolve(FileConfig::default(), FileConfig::default());
        assert_eq!(defaults.log_level, LogLevel::Info);
        assert_eq!(defaults.log_format, LogFormat::Text);
        let file: FileConfig =
            toml::from_str("log_level = \"warn\"\nlog_format = \"json\"").unwrap();
        let from_file = Config::resolve(file, FileConfig::default());
        assert_eq!(from_file.log_level, LogLevel::Warn);
        assert_eq!(from_file.log_format, LogFormat::Json);
        let file: FileConfig =
            toml::from_str("log_level = \"warn\"\nlog_format = \"json\"").unwrap();
        let over = FileConfig {
            log_level: Some(LogLevel::Debug),
            ..FileConfig::default()
        };
        let config = Config::resolve(file, over);
        assert_eq!(
            config.log_level,
            LogLevel::Debug,
            "flag or environment wins"
        );
        assert_eq!(
            config.log_format,
            LogFormat::Json,
            "the file fills the rest"
        );
        assert!(toml::from_str::<FileConfig>("log_level = \"loud\"").is_err());
        assert!(toml::from_str::<FileConfig>("log_format = \"xml\"").is_err());
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("bnid = \"x\"").is_err());
    }
}
