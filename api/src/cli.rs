//! The `gateway` command line. Secrets are read from standard input, never from argv.

use crate::config::Config;
use crate::db;
use crate::tenants::secrets::{self, Health, WebhookSecret};
use crate::tenants::{self, TenantSlug, api_keys};
use clap::{Parser, Subcommand};
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder};
use std::io::Read;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "gateway",
    version,
    about = "Multi-tenant Stripe webhook gateway for restaurant platforms"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations and serve HTTP (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Manage restaurants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Manage a restaurant's Stripe configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage admin accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Manage the encryption keys of stored secrets.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Sign a realistic event with the tenant's secret and deliver it, like `stripe trigger`.
    SendTestEvent {
        slug: String,
        /// e.g. checkout.session.completed, payment_intent.succeeded, charge.refunded
        #[arg(long = "type")]
        event_type: String,
        /// The gateway order the event is about (sets metadata.order_id).
        #[arg(long)]
        order: Option<String>,
        /// Where to deliver; defaults to this machine's gateway on $PORT (3000).
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a restaurant.
    Create {
        slug: String,
        #[arg(long)]
        name: String,
    },
    /// Create an API key for a restaurant's backend; prints it once.
    ApiKey { slug: String },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "platform_admin", value_parser = ["platform_admin", "tenant_admin"])]
        role: String,
        /// The tenant of a tenant_admin.
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Re-encrypt every stored secret under PAYMENT_CONFIG_ENC_KEY (idempotent; safe to
    /// interrupt and run again). Keep the old key in PAYMENT_CONFIG_ENC_KEY_PREVIOUS until done.
    Rotate,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Set the webhook signing secret (whsec_…), read from standard input.
    SetSecret { slug: String },
    /// Decrypt every stored secret and report, per tenant, ok or why not.
    Check { slug: Option<String> },
}

pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config, matches!(command, Command::Serve));
    match execute(command, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config, serving: bool) {
    use tracing_subscriber::EnvFilter;
    let base = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| if serving { "info" } else { "warn" }.to_string());
    // Library chatter (migration notices, PostgreSQL NOTICEs) stays out unless it matters.
    let filter = EnvFilter::try_new(format!(
        "{base},sqlx=warn,sea_orm=warn,sea_orm_migration=warn"
    ))
    .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.json_logs {
        builder.json().init();
    } else {
        builder.with_ansi(false).init();
    }
}

async fn audit(
    db: &DatabaseConnection,
    tenant_id: Option<i64>,
    action: &str,
    detail: serde_json::Value,
) -> Result<(), String> {
    crate::admin::audit::record(db, "cli", None, tenant_id, action, detail)
        .await
        .map_err(|e| e.to_string())
}

fn describe_api_error(e: crate::error::Error) -> String {
    use crate::error::Error;
    match e {
        Error::Unprocessable { message, .. } | Error::BadRequest { message, .. } => message,
        Error::Conflict("email_taken") => "an admin with this email already exists".into(),
        other => other.to_string(),
    }
}

async fn open(config: &Config) -> Result<DatabaseConnection, String> {
    let db = db::connect(config)
        .await
        .map_err(|e| format!("DATABASE_URL: cannot open the database: {e}"))?;
    db::migrate(&db)
        .await
        .map_err(|e| format!("DATABASE_URL: cannot apply migrations: {e}"))?;
    Ok(db)
}

fn parse_slug(slug: &str) -> Result<TenantSlug, String> {
    TenantSlug::parse(slug).map_err(|e| format!("{slug:?}: {e}"))
}

async fn tenant_of(db: &DatabaseConnection, slug: &str) -> Result<entity::tenant::Model, String> {
    let slug = parse_slug(slug)?;
    tenants::find_by_slug(db, &slug)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!("no tenant {slug}: create it with `gateway tenant create {slug} --name NAME`")
        })
}

fn read_stdin_line(what: &str) -> Result<String, String> {
    let mut text = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read {what} from standard input: {e}"))?;
    let line = text.lines().next().unwrap_or_default().trim().to_string();
    if line.is_empty() {
        return Err(format!("expected {what} on standard input"));
    }
    Ok(line)
}

async fn execute(command: Command, config: Config) -> Result<(), String> {
    match command {
        Command::Serve => {
            let listener = tokio::net::TcpListener::bind(config.bind_addr)
                .await
                .map_err(|e| format!("BIND_ADDR: cannot listen on {}: {e}", config.bind_addr))?;
            crate::run(config, listener).await
        }
        Command::Migrate => {
            open(&config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Tenant {
            command: TenantCommand::Create { slug, name },
        } => {
            let slug = parse_slug(&slug)?;
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 200 {
                return Err("--name must be 1 to 200 characters".into());
            }
            let db = open(&config).await?;
            let tenant = tenants::create(&db, &slug, name)
                .await
                .map_err(|e| match e {
                    tenants::CreateError::Taken => format!("tenant {slug} already exists"),
                    tenants::CreateError::Db(e) => e.to_string(),
                })?;
            audit(
                &db,
                Some(tenant.id),
                "tenant.create",
                serde_json::json!({"slug": tenant.slug, "name": tenant.name}),
            )
            .await?;
            println!("created tenant {} ({})", tenant.slug, tenant.name);
            println!("webhook URL: /api/v1/webhooks/stripe/{}", tenant.slug);
            Ok(())
        }
        Command::Tenant {
            command: TenantCommand::ApiKey { slug },
        } => {
            let db = open(&config).await?;
            let tenant = tenant_of(&db, &slug).await?;
            let key = api_keys::create(&db, tenant.id)
                .await
                .map_err(|e| e.to_string())?;
            audit(
                &db,
                Some(tenant.id),
                "api_key.create",
                serde_json::json!({"id": key.id}),
            )
            .await?;
            eprintln!(
                "API key {} for {}: shown once, store it now",
                key.id, tenant.slug
            );
            println!("{}", key.key);
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::SetSecret { slug },
        } => {
            let db = open(&config).await?;
            let tenant = tenant_of(&db, &slug).await?;
            let secret = WebhookSecret::parse(&read_stdin_line("the webhook secret")?)
                .map_err(|e| e.to_string())?;
            secrets::set(&db, &config.keys, tenant.id, &secret)
                .await
                .map_err(|e| e.to_string())?;
            audit(
                &db,
                Some(tenant.id),
                "payment_config.set",
                serde_json::json!({"hint": secret.hint(), "fingerprint": secret.fingerprint()}),
            )
            .await?;
            println!(
                "secret {} ({}) set for {}",
                secret.hint(),
                secret.fingerprint(),
                tenant.slug
            );
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Check { slug },
        } => {
            let db = open(&config).await?;
            let list = match slug {
                Some(slug) => vec![tenant_of(&db, &slug).await?],
                None => entity::tenant::Entity::find()
                    .order_by_asc(entity::tenant::Column::Slug)
                    .all(&db)
                    .await
                    .map_err(|e| e.to_string())?,
            };
            let mut broken = 0;
            for tenant in &list {
                let health = secrets::check(&db, &config.keys, tenant.id)
                    .await
                    .map_err(|e| e.to_string())?;
                match health {
                    Health::Ok { secrets } => println!(
                        "{}: ok ({secrets} active secret{})",
                        tenant.slug,
                        if secrets == 1 { "" } else { "s" }
                    ),
                    Health::Missing => {
                        broken += 1;
                        println!("{}: missing (no webhook secret configured)", tenant.slug);
                    }
                    Health::Broken(why) => {
                        broken += 1;
                        println!("{}: {why}", tenant.slug);
                    }
                }
            }
            if broken > 0 {
                return Err(format!(
                    "{broken} of {} tenant(s) cannot verify webhooks",
                    list.len()
                ));
            }
            Ok(())
        }
        Command::Admin {
            command:
                AdminCommand::Create {
                    email,
                    role,
                    tenant,
                },
        } => {
            let db = open(&config).await?;
            let password = read_stdin_line("the password")?;
            let admin = crate::admin::accounts::create_admin(
                &db,
                &email,
                &password,
                &role,
                tenant.as_deref(),
            )
            .await
            .map_err(describe_api_error)?;
            crate::admin::audit::record(
                &db,
                "cli",
                None,
                admin.tenant_id,
                "admin.create",
                serde_json::json!({"email": admin.email, "role": admin.role}),
            )
            .await
            .map_err(|e| e.to_string())?;
            println!("created {} {}", admin.role, admin.email);
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Rotate,
        } => {
            let db = open(&config).await?;
            crate::keyrotation::rotate_all(&db, &config.keys).await
        }
        Command::SendTestEvent {
            slug,
            event_type,
            order,
            url,
        } => {
            let db = open(&config).await?;
            let tenant = tenant_of(&db, &slug).await?;
            crate::testevent::send(&db, &config, &tenant, &event_type, order.as_deref(), url).await
        }
    }
}
