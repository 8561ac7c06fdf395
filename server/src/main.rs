//! `kangdao`: serve, migrate, and manage users from the command line.

use clap::{Args, Parser, Subcommand};
use kangdao_engine::access::{users, NewUser};
use kangdao_engine::clock::SystemClock;
use kangdao_server::config::{Config, FileConfig, LogFormat, LogLevel};
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// mimalloc instead of glibc's malloc: a profile of record lists showed a quarter of the time in
/// glibc's `_int_malloc` and `malloc_consolidate` (parsing and presenting JSON documents
/// allocates many small strings).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "kangdao",
    version,
    about = "康道 Kangdao: a no-code patient-relationship platform for hospitals"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalOptions,
    #[command(subcommand)]
    command: Command,
}

/// Every key has a flag and a `KANGDAO_*` variable; both win over the config file.
#[derive(Args)]
struct GlobalOptions {
    /// Config file (default: ./kangdao.toml when present)
    #[arg(long, global = true, env = "KANGDAO_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080)
    #[arg(long, global = true, env = "KANGDAO_BIND")]
    bind: Option<String>,
    /// Data folder: SQLite database and generated key (default ./data)
    #[arg(long, global = true, env = "KANGDAO_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// postgres://… for PostgreSQL; default SQLite in the data folder
    #[arg(long, global = true, env = "KANGDAO_DATABASE_URL")]
    database_url: Option<String>,
    /// Time zone for dates (default Asia/Shanghai)
    #[arg(long, global = true, env = "KANGDAO_TIMEZONE")]
    timezone: Option<String>,
    /// Key file for sensitive fields (default: data/secrets/master.key, generated)
    #[arg(long, global = true, env = "KANGDAO_KEY_FILE")]
    key_file: Option<PathBuf>,
    #[arg(long, global = true, env = "KANGDAO_DB_MAX_CONNECTIONS")]
    db_max_connections: Option<u32>,
    /// The address patients and staff reach the server at (https:// makes cookies Secure)
    #[arg(long, global = true, env = "KANGDAO_PUBLIC_URL")]
    public_url: Option<String>,
    /// The longest an API token may live, in days (default 365)
    #[arg(long, global = true, env = "KANGDAO_TOKEN_MAX_DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    token_max_days: Option<u32>,
    /// How much to log: error, warn, info (default), debug, trace; KANGDAO_LOG wins
    #[arg(
        long,
        global = true,
        env = "KANGDAO_LOG_LEVEL",
        value_enum,
        ignore_case = true
    )]
    log_level: Option<LogLevel>,
    /// Log lines as text (default; coloured only on a terminal) or json, one object a line
    #[arg(
        long,
        global = true,
        env = "KANGDAO_LOG_FORMAT",
        value_enum,
        ignore_case = true
    )]
    log_format: Option<LogFormat>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server
    Serve,
    /// Bring the database schema up to date and exit
    Migrate,
    /// Manage users
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password is read from standard input (twice when typed)
    Add {
        #[arg(long)]
        username: String,
        /// Give the user every right
        #[arg(long)]
        admin: bool,
        /// Roles to grant (repeatable)
        #[arg(long = "role")]
        roles: Vec<String>,
        #[arg(long)]
        display_name: Option<String>,
    },
}

fn load_config(global: GlobalOptions) -> Result<Config, String> {
    let file = Config::read_file(global.config.as_deref())?;
    let over = FileConfig {
        bind: global.bind,
        data_dir: global.data_dir,
        database_url: global.database_url,
        timezone: global.timezone,
        key_file: global.key_file,
        db_max_connections: global.db_max_connections,
        public_url: global.public_url,
        max_body_bytes: None,
        max_import_bytes: None,
        token_max_days: global.token_max_days,
        retention_days: None,
        flow_webhook_allow: None,
        log_level: global.log_level,
        log_format: global.log_format,
    };
    Ok(Config::resolve(file, over))
}

/// Reads a password: from a pipe, the first line (and a second that must match, if present);
/// from a terminal, asked twice.
fn read_password() -> Result<String, String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let first = rpassword::prompt_password("密码 Password: ").map_err(|e| e.to_string())?;
        let second = rpassword::prompt_password("再次输入 Repeat: ").map_err(|e| e.to_string())?;
        if first != second {
            return Err("the two passwords differ / 两次输入的密码不一致".into());
        }
        return Ok(first);
    }
    let mut lines = stdin.lock().lines();
    let first = lines
        .next()
        .ok_or("no password on standard input")?
        .map_err(|e| e.to_string())?;
    if let Some(second) = lines.next() {
        let second = second.map_err(|e| e.to_string())?;
        if !second.is_empty() && second != first {
            return Err("the two passwords differ / 两次输入的密码不一致".into());
        }
    }
    Ok(first)
}

async fn run(config: Config, command: Command) -> Result<(), String> {
    match command {
        Command::Serve => {
            let state = kangdao_server::build_state(config.clone())
                .await
                .map_err(|e| e.to_string())?;
            let listener = tokio::net::TcpListener::bind(&config.bind)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
            let backend = if config.is_postgres() {
                "PostgreSQL"
            } else {
                "SQLite"
            };
            let address = listener.local_addr().map_err(|e| e.to_string())?;
            println!("康道 Kangdao listening on http://{address} ({backend})");
            tracing::info!(%address, backend, "listening");
            kangdao_server::launch(listener, state, shutdown_signal())
                .await
                .map_err(|e| e.to_string())
        }
        Command::Migrate => {
            kangdao_server::open_engine(&config, Arc::new(SystemClock))
                .await
                .map_err(|e| e.to_string())?;
            println!("database is up to date");
            Ok(())
        }
        Command::User(UserCommand::Add {
            username,
            admin,
            roles,
            display_name,
        }) => {
            let engine = kangdao_server::open_engine(&config, Arc::new(SystemClock))
                .await
                .map_err(|e| e.to_string())?;
            let password = read_password()?;
            let user = users::create_user(
                &engine.db,
                engine.clock.as_ref(),
                NewUser {
                    username,
                    password,
                    display_name,
                    is_admin: admin,
                    roles,
                    departments: Vec::new(),
                },
            )
            .await
            .map_err(|e| match e {
                kangdao_engine::EngineError::BadRequest { message, .. } => message,
                other => other.message(kangdao_engine::Lang::En),
            })?;
            println!(
                "added user {} ({}){}",
                user.username,
                user.id,
                if user.is_admin { ", administrator" } else { "" }
            );
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match load_config(cli.global) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("kangdao: {message}");
            return ExitCode::FAILURE;
        }
    };
    kangdao_server::logging::init(&config);
    match run(config, cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("kangdao: {message}");
            ExitCode::FAILURE
        }
    }
}
