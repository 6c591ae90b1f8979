//! `gateway config set-secret|check`

use super::{read_secret, tenant_of};
use crate::config::Config as Settings;
use crate::notify::endpoints;
use crate::tenants::api_keys::Mode;
use crate::tenants::audit::Actor;
use crate::tenants::secrets::{self, Health, WebhookSecret};
use crate::tenants::{self, stripe_key};
use crate::vault::OpenError;
use anyhow::{Result, anyhow, bail};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum Command {
    /// Set the webhook signing secret (whsec_…), read from standard input: of the
    /// restaurant's live endpoint, or with `--mode test` of its test endpoint (each mode
    /// keeps its own secret).
    SetSecret {
        slug: String,
        #[arg(long, default_value = "live", value_parser = ["live", "test"])]
        mode: String,
    },
    /// Set the platform's Stripe Connect endpoint secret (whsec_…), read from standard
    /// input: it verifies POST /api/v1/webhooks/stripe/connect.
    SetConnectSecret {
        #[arg(long, default_value = "live", value_parser = ["live", "test"])]
        mode: String,
    },
    /// Set the restaurant's Stripe API key (a restricted key with read access to Events
    /// and Webhook Endpoints), read from standard input.
    SetApiKey { slug: String },
    /// Decrypt every sealed value (webhook secrets, the Stripe API key, notification
    /// secrets) and report, per tenant, ok or why not.
    Check {
        /// Only this restaurant.
        slug: Option<String>,
    },
}

pub async fn run(command: Command, config: &Settings) -> Result<()> {
    match command {
        Command::SetSecret { slug, mode } => set_secret(config, &slug, &mode).await,
        Command::SetConnectSecret { mode } => set_connect_secret(config, &mode).await,
        Command::SetApiKey { slug } => super::stripe::set_api_key(config, &slug).await,
        Command::Check { slug } => check(config, slug.as_deref()).await,
    }
}

async fn set_secret(config: &Settings, slug: &str, mode: &str) -> Result<()> {
    let mode = Mode::parse(mode).ok_or_else(|| anyhow!("--mode is live or test"))?;
    let db = super::open(config).await?;
    let tenant = tenant_of(&db, slug).await?;
    let secret = WebhookSecret::parse(&read_secret(
        "the webhook secret",
        "Webhook signing secret (whsec_…): ",
    )?)
    .map_err(|e| anyhow!(e))?;
    secrets::set(&db, &config.keys, tenant.id, &secret, mode, &Actor::cli()).await?;
    println!(
        "{} secret {} ({}) set for {}",
        mode.as_str(),
        secret.hint(),
        secret.fingerprint(),
        tenant.slug
    );
    Ok(())
}

async fn set_connect_secret(config: &Settings, mode: &str) -> Result<()> {
    let mode = Mode::parse(mode).ok_or_else(|| anyhow!("--mode is live or test"))?;
    let db = super::open(config).await?;
    let secret = WebhookSecret::parse(&read_secret(
        "the Connect endpoint's secret",
        "Connect endpoint signing secret (whsec_…): ",
    )?)
    .map_err(|e| anyhow!(e))?;
    let platform = crate::tenants::connect::ensure_platform(&db).await?;
    secrets::set(&db, &config.keys, platform.id, &secret, mode, &Actor::cli()).await?;
    println!(
        "{} Connect secret {} ({}) set: /api/v1/webhooks/stripe/connect verifies with it",
        mode.as_str(),
        secret.hint(),
        secret.fingerprint()
    );
    Ok(())
}

async fn check(config: &Settings, slug: Option<&str>) -> Result<()> {
    let db = super::open(config).await?;
    let list = match slug {
        Some(slug) => vec![tenant_of(&db, slug).await?],
        // Every restaurant, and the platform's Connect settings (its secrets and key).
        None => {
            let mut all = tenants::list(&db, None).await?;
            all.extend(crate::tenants::connect::platform(&db).await?);
            all
        }
    };
    let mut broken = 0;
    let mut unsealable = 0;
    for tenant in &list {
        match secrets::check(&db, &config.keys, tenant.id).await? {
            Health::Ok { secrets } => println!(
                "{}: ok ({secrets} active secret{})",
                tenant.slug,
                if secrets == 1 { "" } else { "s" }
            ),
            Health::Missing if tenant.connect_account_id.is_some() => println!(
                "{}: no secret of its own (linked to {}: its events are verified with the Connect secret)",
                tenant.slug,
                tenant.connect_account_id.as_deref().unwrap_or_default()
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
        // Every other sealed value of the tenant, where it has one.
        match stripe_key::check(&db, &config.keys, tenant.id).await? {
            Some(Ok(hint)) => println!("  Stripe API key {hint}: ok"),
            Some(Err(e)) => {
                unsealable += 1;
                println!("  Stripe API key: {}", sealed_problem(&e));
            }
            None => {}
        }
        for row in endpoints::list(&db, tenant.id).await? {
            match endpoints::secret(&config.keys, &row) {
                Ok(_) => println!("  notification endpoint {} secret: ok", row.id),
                Err(e) => {
                    unsealable += 1;
                    println!(
                        "  notification endpoint {} secret: {}",
                        row.id,
                        sealed_problem(&e)
                    );
                }
            }
        }
    }
    if broken > 0 {
        bail!(
            "{broken} of {} tenant(s) cannot verify webhooks",
            list.len()
        );
    }
    if unsealable > 0 {
        bail!("{unsealable} Stripe API key(s) or notification secret(s) cannot be decrypted");
    }
    Ok(())
}

/// A sealed value that does not open, in the words `config check` uses for secrets.
fn sealed_problem(e: &OpenError) -> String {
    match e {
        OpenError::UnknownKey(id) => format!(
            "wrong key: sealed with key {id}, which is neither PAYMENT_CONFIG_ENC_KEY nor in PAYMENT_CONFIG_ENC_KEY_PREVIOUS"
        ),
        OpenError::Tampered => "tampered: does not decrypt with its key".into(),
    }
}
