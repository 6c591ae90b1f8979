//! The `gateway` command line: one function per subcommand, each calling the domain.
//! Secrets and passwords are read from standard input, never from argv.

mod admin;
mod config;
mod health_check;
mod keys;
pub mod logs;
mod notifications;
mod send_test_event;
mod stripe;
mod tenant;

use crate::config::{Config, LogFormat, Source};
use crate::tenants::{self, TenantSlug};
use anyhow::{Context, Result, anyhow};
use clap::{Parser, Subcommand};
use sea_orm::DatabaseConnection;
use std::io::Read;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "gateway",
    version,
    about = "Multi-tenant Stripe webhook gateway for restaurant platforms",
    long_about = "Multi-tenant Stripe webhook gateway for restaurant platforms.\n\n\
                  Settings come from the environment; without a command, `serve` runs.",
    after_help = SETTINGS_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

/// The settings every command reads (the whole list: docs/operations.md).
const SETTINGS_HELP: &str = "\
Environment (the whole list: docs/operations.md):
  DATABASE_URL             sqlite://FILE?mode=rwc or postgres://… [default: sqlite://./data/gateway.db?mode=rwc]
  PAYMENT_CONFIG_ENC_KEY   64 hex characters; seals every stored secret [development: a key file beside the SQLite file]
  JWT_SECRET               signs admin tokens, 32 bytes or more [development: a key file beside the SQLite file]
  GATEWAY_ENV              production refuses to start without the keys [default: development]
  BIND_ADDR / PORT         where serve listens [default: 0.0.0.0:3000]
  LOG_FORMAT               text or json [default: text]; RUST_LOG filters";

#[derive(Subcommand)]
enum Command {
    /// Apply migrations and serve HTTP (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Manage restaurants.
    Tenant {
        #[command(subcommand)]
        command: tenant::Command,
    },
    /// Manage a restaurant's Stripe configuration.
    Config {
        #[command(subcommand)]
        command: config::Command,
    },
    /// Manage admin accounts.
    Admin {
        #[command(subcommand)]
        command: admin::Command,
    },
    /// Manage the encryption keys of stored secrets.
    Keys {
        #[command(subcommand)]
        command: keys::Command,
    },
    /// A restaurant's notification endpoints: list, add, pause, resume, resend.
    Notifications {
        #[command(subcommand)]
        command: notifications::Command,
    },
    /// Sign a realistic event with the tenant's secret and deliver it, like `stripe trigger`.
    SendTestEvent(send_test_event::Args),
    /// Ask a gateway's /ready; exit 0 when ready, 1 otherwise (container health checks).
    HealthCheck(health_check::Args),
    /// Fetch a restaurant's events from Stripe and apply those never received.
    Recover(stripe::RecoverArgs),
    /// Name what is wrong, with evidence and the fix; exit 1 on an error finding.
    Doctor(stripe::DoctorArgs),
}

pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    // The log format first, so that everything after it (a bad setting too) is
    // written the way the operator asked.
    let format = match LogFormat::load(&Source::env()) {
        Ok(format) => format,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(format, matches!(command, Command::Serve));
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            report(format, &format!("{e}"));
            return ExitCode::from(2);
        }
    };
    match execute(command, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(format, &format!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}

/// Why the command failed: one line, `error: …`, or a JSON log line.
fn report(format: LogFormat, error: &str) {
    // After the lines logged before it.
    logs::flush();
    match format {
        LogFormat::Text => eprintln!("error: {error}"),
        LogFormat::Json => tracing::error!(error, "the command failed"),
    }
}

/// A notice on standard error (which database a command opened): plain, or a JSON
/// line like the log's.
fn notice(format: LogFormat, key: &str, value: &str) {
    logs::flush();
    match format {
        LogFormat::Text => eprintln!("{key}: {value}"),
        LogFormat::Json => eprintln!(
            "{}",
            serde_json::json!({"level": "INFO", "fields": {"message": key, key: value}})
        ),
    }
}

async fn execute(command: Command, config: Config) -> Result<()> {
    match command {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(&config).await,
        Command::Tenant { command } => tenant::run(command, &config).await,
        Command::Config { command } => config::run(command, &config).await,
        Command::Admin { command } => admin::run(command, &config).await,
        Command::Keys { command } => keys::run(command, &config).await,
        Command::Notifications { command } => notifications::run(command, &config).await,
        Command::SendTestEvent(args) => send_test_event::run(args, &config).await,
        Command::HealthCheck(args) => health_check::run(args, &config).await,
        Command::Recover(args) => stripe::recover(args, &config).await,
        Command::Doctor(args) => stripe::doctor(args, &config).await,
    }
}

async fn serve(config: Config) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(config.bind_addr)
        .await
        .with_context(|| format!("BIND_ADDR: cannot listen on {}", config.bind_addr))?;
    crate::http::run(config, listener).await
}

async fn migrate(config: &Config) -> Result<()> {
    open(config).await?;
    println!("migrations applied");
    Ok(())
}

fn init_logging(format: LogFormat, serving: bool) {
    use tracing_subscriber::EnvFilter;
    let base = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| if serving { "info" } else { "warn" }.to_string());
    // Library chatter (migration notices, PostgreSQL NOTICEs) stays out unless it matters.
    let quiet = "sqlx=warn,sea_orm=warn,sea_orm_migration=warn";
    let filter = EnvFilter::try_new(format!("{base},{quiet}"))
        .unwrap_or_else(|_| EnvFilter::new(format!("info,{quiet}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(logs::Stderr);
    if format == LogFormat::Json {
        builder.json().init();
    } else {
        builder.with_ansi(false).init();
    }
}

/// Opens (and migrates) the database, saying which on standard error: a command run
/// from another directory, or with another `DATABASE_URL`, says so at once.
async fn open(config: &Config) -> Result<DatabaseConnection> {
    notice(
        config.log_format,
        "database",
        &shown_url(&config.database_url),
    );
    crate::runtime::open_database(config).await
}

/// A database URL without its password.
fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

fn parse_slug(slug: &str) -> Result<TenantSlug> {
    TenantSlug::parse(slug).map_err(|e| anyhow!("{slug:?}: {e}"))
}

/// The tenant with this slug, or an error that says how to create it.
async fn tenant_of(db: &DatabaseConnection, slug: &str) -> Result<entity::tenant::Model> {
    let slug = parse_slug(slug)?;
    tenants::find_by_slug(db, &slug)
        .await
        .context("reading the tenant")?
        .ok_or_else(|| {
            anyhow!("no tenant {slug}: create it with `gateway tenant create {slug} --name NAME`")
        })
}

/// A secret or password: asked for with `prompt` and read without echo at a terminal,
/// else the first line of standard input (scripts pipe it in).
fn read_secret(what: &str, prompt: &str) -> Result<String> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return read_stdin_line(what);
    }
    let line = rpassword::prompt_password(prompt)
        .with_context(|| format!("cannot read {what} from the terminal"))?;
    let line = line.trim().to_string();
    if line.is_empty() {
        return Err(anyhow!("expected {what}"));
    }
    Ok(line)
}

/// The first line of standard input, trimmed; `what` names it in errors.
fn read_stdin_line(what: &str) -> Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {what} from standard input"))?;
    let line = text.lines().next().unwrap_or_default().trim().to_string();
    if line.is_empty() {
        return Err(anyhow!("expected {what} on standard input"));
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_database_password_is_never_shown() {
        let shown = super::shown_url("postgres://gw:s3cret@db:5432/gateway");
        assert_eq!(shown, "postgres://gw:***@db:5432/gateway");
        assert_eq!(
            super::shown_url("sqlite://./data/gateway.db?mode=rwc"),
            "sqlite://./data/gateway.db?mode=rwc"
        );
    }
}
