//! Log set-up: `log_level` and `log_format` from the configuration; `KANGDAO_LOG`, a full
//! filter directive (`info,kangdao::access=warn`), wins over `log_level`. Text is coloured only
//! when standard error is a terminal, so a file or a journal gets plain lines.

use crate::config::{Config, LogFormat};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// The filter: `KANGDAO_LOG` when set and valid, else `log_level` with sqlx kept to warnings.
pub fn filter(config: &Config) -> EnvFilter {
    EnvFilter::try_from_env("KANGDAO_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("{},sqlx=warn", config.log_level.as_str())))
}

/// Installs the global subscriber, writing to standard error.
pub fn init(config: &Config) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(config))
        .with_writer(std::io::stderr);
    let installed = match config.log_format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
    // A subscriber already set (an embedding program's) is kept.
    let _ = installed;
}
