//! `gateway config set-api-key`, `gateway recover`, `gateway doctor`.

use super::{read_secret, tenant_of};
use crate::config::Config;
use crate::diagnosis::{self, Asker, Severity, StripeCache, Viewer};
use crate::recovery;
use crate::tenants;
use crate::tenants::audit::Actor;
use crate::tenants::stripe_key::{self, StripeApiKey};
use anyhow::{Context, Result, anyhow, bail};

pub async fn set_api_key(config: &Config, slug: &str) -> Result<()> {
    let db = super::open(config).await?;
    let tenant = tenant_of(&db, slug).await?;
    let key = StripeApiKey::parse(&read_secret(
        "the Stripe API key",
        "Stripe API key (rk_live_…): ",
    )?)
    .map_err(|e| anyhow!(e))?;
    stripe_key::set(&db, &config.keys, tenant.id, &key, &Actor::cli()).await?;
    println!("Stripe API key {} set for {}", key.hint(), tenant.slug);
    Ok(())
}

#[derive(clap::Args)]
pub struct RecoverArgs {
    slug: String,
    /// From when (RFC 3339); by default where the last recovery ended, or 3 days back.
    #[arg(long)]
    since: Option<String>,
}

pub async fn recover(args: RecoverArgs, config: &Config) -> Result<()> {
    let since = args
        .since
        .as_deref()
        .map(|text| {
            chrono::DateTime::parse_from_rfc3339(text)
                .map(|t| t.timestamp_millis())
                .with_context(|| {
                    format!("--since {text:?} is not an RFC 3339 time, e.g. 2026-11-20T00:00:00Z")
                })
        })
        .transpose()?;
    let db = super::open(config).await?;
    let tenant = tenant_of(&db, &args.slug).await?;
    let base = &config.watch.stripe_api_base;
    let lease = config.processing.lease;
    let summary = recovery::recover(&db, &config.keys, base, &tenant, since, lease)
        .await
        .with_context(|| format!("recovering the events of {}", tenant.slug))?;
    println!(
        "{}: {} listed by Stripe, {} already here, {} recovered, {} failed",
        tenant.slug, summary.listed, summary.already_had, summary.recovered, summary.failed
    );
    if summary.failed > 0 {
        bail!(
            "{} event(s) could not be recovered; see the log above",
            summary.failed
        );
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct DoctorArgs {
    /// Only this restaurant; all by default.
    slug: Option<String>,
}

pub async fn doctor(args: DoctorArgs, config: &Config) -> Result<()> {
    let db = super::open(config).await?;
    let list = match &args.slug {
        Some(slug) => vec![tenant_of(&db, slug).await?],
        None => tenants::list(&db, None).await?,
    };
    let cache = StripeCache::default();
    let mut errors = 0;
    for tenant in &list {
        let findings =
            diagnosis::diagnose(&db, config, &cache, tenant, Viewer::Platform, Asker::Person)
                .await?;
        if findings.is_empty() {
            println!("{}: healthy", tenant.slug);
            continue;
        }
        println!("{}:", tenant.slug);
        for f in &findings {
            let mark = match f.severity {
                Severity::Error => {
                    errors += 1;
                    "error"
                }
                Severity::Warning => "warning",
            };
            println!("  [{mark}] {}: {}", f.code, f.summary);
            for line in &f.evidence {
                println!("      evidence: {line}");
            }
            println!("      fix: {}", f.fix);
        }
    }
    if errors > 0 {
        bail!("{errors} error finding(s)");
    }
    Ok(())
}
