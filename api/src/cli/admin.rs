//! `gateway admin create`

use crate::config::Config;
use crate::tenants::admins;
use crate::tenants::audit::Actor;
use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum Command {
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

pub async fn run(command: Command, config: &Config) -> Result<()> {
    match command {
        Command::Create {
            email,
            role,
            tenant,
        } => create(config, &email, &role, tenant.as_deref()).await,
    }
}

async fn create(config: &Config, email: &str, role: &str, tenant: Option<&str>) -> Result<()> {
    let db = crate::db::open_migrated(config).await?;
    let password = super::read_stdin_line("the password")?;
    let admin = admins::create(&db, email, &password, role, tenant, &Actor::cli()).await?;
    println!("created {} {}", admin.role, admin.email);
    Ok(())
}
