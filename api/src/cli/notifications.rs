//! `gateway notifications list|add|pause|resume|resend`: a restaurant's notification
//! endpoints, for an operator at the console (CONTRACT §12).

use super::tenant_of;
use crate::clock::ms_to_rfc3339;
use crate::config::Config;
use crate::notify::endpoints;
use crate::notify::patterns::Patterns;
use crate::tenants::audit::Actor;
use anyhow::{Result, anyhow, bail};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum Command {
    /// List the restaurant's endpoints: id, paused or not, event types, URL.
    List { slug: String },
    /// Add an endpoint; prints its signing secret (whsec_…) once.
    Add {
        slug: String,
        url: String,
        /// Comma-separated event types, exact or ending in '*' (e.g.
        /// "order.*,customer.subscription.*,invoice.paid") [default: order.*]
        #[arg(long, value_delimiter = ',')]
        event_types: Vec<String>,
    },
    /// Hold the endpoint's notifications in the outbox (while its backend is deployed).
    Pause { slug: String, id: i64 },
    /// Send what waited, in order, and go on sending.
    Resume { slug: String, id: i64 },
    /// Send again, in order, every notification made since a time (RFC 3339).
    Resend {
        slug: String,
        id: i64,
        #[arg(long)]
        since: String,
    },
}

pub async fn run(command: Command, config: &Config) -> Result<()> {
    let db = super::open(config).await?;
    let slug = match &command {
        Command::List { slug }
        | Command::Add { slug, .. }
        | Command::Pause { slug, .. }
        | Command::Resume { slug, .. }
        | Command::Resend { slug, .. } => slug.clone(),
    };
    let tenant = tenant_of(&db, &slug).await?;
    let actor = Actor::cli();
    let missing = |id: i64| anyhow!("tenant {} has no notification endpoint {id}", tenant.slug);
    match command {
        Command::List { .. } => {
            for e in endpoints::list(&db, tenant.id).await? {
                let types = Patterns::from_stored(&e.event_types).list().join(",");
                let state = if e.paused { "paused" } else { "active" };
                println!(
                    "{}\t{state}\t{types}\t{}\t{}",
                    e.id,
                    e.url,
                    ms_to_rfc3339(e.created_at)
                );
            }
        }
        Command::Add {
            url, event_types, ..
        } => {
            let patterns = match event_types.is_empty() {
                true => Patterns::default(),
                false => Patterns::parse(&event_types).map_err(|e| anyhow!(e))?,
            };
            let allow = config.notifications.allow_private;
            let added =
                endpoints::add(&db, &config.keys, tenant.id, &url, &patterns, allow, &actor)
                    .await
                    .map_err(|e| anyhow!(e))?;
            eprintln!(
                "endpoint {} added for {}; its signing secret (shown once):",
                added.endpoint.id, tenant.slug
            );
            println!("{}", added.secret.as_str());
        }
        Command::Pause { id, .. } | Command::Resume { id, .. } => {
            let pause = matches!(command, Command::Pause { .. });
            let row = endpoints::set_paused(&db, tenant.id, id, pause, &actor)
                .await?
                .ok_or_else(|| missing(id))?;
            let state = if row.paused {
                "paused"
            } else {
                "resumed: what waited goes out in order"
            };
            println!("endpoint {id} of {}: {state}", tenant.slug);
        }
        Command::Resend { id, since, .. } => {
            let Ok(at) = chrono::DateTime::parse_from_rfc3339(since.trim()) else {
                bail!("--since is an RFC 3339 time, e.g. 2026-11-20T00:00:00Z");
            };
            let resent = endpoints::resend(&db, tenant.id, id, at.timestamp_millis(), &actor)
                .await?
                .ok_or_else(|| missing(id))?;
            println!(
                "endpoint {id} of {}: {resent} notifications go out again, in order",
                tenant.slug
            );
        }
    }
    Ok(())
}
