//! `gateway admin create|list`

use crate::config::Config;
use crate::tenants::admins;
use crate::tenants::audit::Actor;
use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum Command {
    /// Create an admin. The password is asked for (not echoed) at a terminal, or read
    /// from standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "platform_admin", value_parser = ["platform_admin", "tenant_admin"])]
        role: String,
        /// The tenant of a tenant_admin.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List the admin accounts: email, role, tenant, when created (never a password).
    List {
        /// One JSON array, for scripts.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: Command, config: &Config) -> Result<()> {
    match command {
        Command::Create {
            email,
            role,
            tenant,
        } => create(config, &email, &role, tenant.as_deref()).await,
        Command::List { json } => list(config, json).await,
    }
}

async fn create(config: &Config, email: &str, role: &str, tenant: Option<&str>) -> Result<()> {
    let db = super::open(config).await?;
    let password = super::read_secret("the password", "Password (12 or more characters): ")?;
    let admin = admins::create(&db, email, &password, role, tenant, &Actor::cli()).await?;
    println!("created {} {}", admin.role, admin.email);
    Ok(())
}

async fn list(config: &Config, json: bool) -> Result<()> {
    let db = super::open(config).await?;
    let admins = admins::list(&db).await?;
    let rows: Vec<serde_json::Value> = admins
        .iter()
        .map(|(admin, tenant)| {
            serde_json::json!({
                "email": admin.email,
                "role": admin.role,
                "tenant": tenant,
                "created_at": crate::clock::ms_to_rfc3339(admin.created_at),
            })
        })
        .collect();
    if json {
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    if rows.is_empty() {
        eprintln!("no admins yet: `gateway admin create --email you@example.com`");
        return Ok(());
    }
    println!("{:<32} {:<15} {:<24} CREATED", "EMAIL", "ROLE", "TENANT");
    for row in &rows {
        println!(
            "{:<32} {:<15} {:<24} {}",
            row["email"].as_str().unwrap_or_default(),
            row["role"].as_str().unwrap_or_default(),
            row["tenant"].as_str().unwrap_or("-"),
            row["created_at"].as_str().unwrap_or_default()
        );
    }
    Ok(())
}
