//! `gateway tenant create|list|api-key|connect`

use super::{parse_slug, tenant_of};
use crate::config::Config;
use crate::tenants::api_keys::{self, Mode};
use crate::tenants::audit::Actor;
use crate::tenants::connect::{self, AccountId, LinkError};
use crate::tenants::{self, CreateError};
use anyhow::{Result, anyhow, bail};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum Command {
    /// Create a restaurant.
    Create {
        /// Lower-case letters, digits and dashes, 3 to 63 characters: it is in the webhook URL.
        slug: String,
        #[arg(long)]
        name: String,
    },
    /// List the restaurants: slug, name, whether a webhook secret is set, when created.
    List {
        /// One JSON array, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Create an API key for a restaurant's backend; prints it once.
    ApiKey {
        slug: String,
        /// A test key: its orders are paid only by test-mode events.
        #[arg(long)]
        test: bool,
    },
    /// Link a restaurant to its Stripe connected account (acct_…): the Connect endpoint
    /// routes that account's events here. One restaurant per account.
    Connect {
        slug: String,
        /// The connected account id; leave out with --unlink.
        account: Option<String>,
        /// Remove the restaurant's link instead.
        #[arg(long, conflicts_with = "account")]
        unlink: bool,
    },
}

pub async fn run(command: Command, config: &Config) -> Result<()> {
    match command {
        Command::Create { slug, name } => create(config, &slug, &name).await,
        Command::List { json } => list(config, json).await,
        Command::ApiKey { slug, test } => {
            let mode = if test { Mode::Test } else { Mode::Live };
            api_key(config, &slug, mode).await
        }
        Command::Connect {
            slug,
            account,
            unlink,
        } => connect(config, &slug, account.as_deref(), unlink).await,
    }
}

async fn connect(config: &Config, slug: &str, account: Option<&str>, unlink: bool) -> Result<()> {
    let db = super::open(config).await?;
    let tenant = tenant_of(&db, slug).await?;
    if unlink {
        let was = tenant.connect_account_id.clone();
        if !connect::unlink(&db, &tenant, &Actor::cli()).await? {
            bail!("tenant {} is linked to no connected account", tenant.slug);
        }
        println!(
            "tenant {} unlinked from {}",
            tenant.slug,
            was.unwrap_or_default()
        );
        return Ok(());
    }
    let account =
        account.ok_or_else(|| anyhow!("give the connected account (acct_…), or --unlink"))?;
    let account = AccountId::parse(account).map_err(|e| anyhow!(e))?;
    connect::link(&db, tenant.id, &account, &Actor::cli())
        .await
        .map_err(|e| match e {
            LinkError::Taken(_) => anyhow!("{e}"),
            LinkError::Db(e) => anyhow!(e).context("linking the account"),
        })?;
    println!(
        "tenant {} linked to {account}: its events come through /api/v1/webhooks/stripe/connect",
        tenant.slug
    );
    Ok(())
}

async fn create(config: &Config, slug: &str, name: &str) -> Result<()> {
    let slug = parse_slug(slug)?;
    let name = tenants::validate_name(name).map_err(|e| anyhow!("--{e}"))?;
    let db = super::open(config).await?;
    let tenant = tenants::create(&db, &slug, name, &Actor::cli())
        .await
        .map_err(|e| match e {
            CreateError::Taken => anyhow!("tenant {slug} already exists"),
            CreateError::Db(e) => anyhow!(e).context("creating the tenant"),
        })?;
    println!("created tenant {} ({})", tenant.slug, tenant.name);
    println!("webhook URL: /api/v1/webhooks/stripe/{}", tenant.slug);
    Ok(())
}

async fn api_key(config: &Config, slug: &str, mode: Mode) -> Result<()> {
    let db = super::open(config).await?;
    let tenant = tenant_of(&db, slug).await?;
    let key = api_keys::create(&db, tenant.id, mode, &Actor::cli()).await?;
    eprintln!(
        "{} API key {} for {}: shown once, store it now",
        mode.as_str(),
        key.id,
        tenant.slug
    );
    println!("{}", key.key);
    Ok(())
}

async fn list(config: &Config, json: bool) -> Result<()> {
    let db = super::open(config).await?;
    let tenants = tenants::list(&db, None).await?;
    let configured = crate::tenants::secrets::configured_tenants(&db).await?;
    let rows: Vec<serde_json::Value> = tenants
        .iter()
        .map(|t| {
            serde_json::json!({
                "slug": t.slug,
                "name": t.name,
                "configured": configured.contains(&t.id),
                "created_at": crate::clock::ms_to_rfc3339(t.created_at),
            })
        })
        .collect();
    if json {
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    if rows.is_empty() {
        eprintln!("no tenants yet: `gateway tenant create SLUG --name NAME`");
        return Ok(());
    }
    println!("{:<24} {:<10} {:<25} NAME", "SLUG", "SECRET", "CREATED");
    for (t, row) in tenants.iter().zip(&rows) {
        let secret = if row["configured"] == true {
            "set"
        } else {
            "missing"
        };
        println!(
            "{:<24} {:<10} {:<25} {}",
            t.slug,
            secret,
            row["created_at"].as_str().unwrap_or_default(),
            t.name
        );
    }
    Ok(())
}
