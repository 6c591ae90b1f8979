//! `gateway send-test-event`: a realistic signed event, delivered like Stripe would.

use super::tenant_of;
use crate::clock::now_ms;
use crate::config::Config;
use crate::stripe::{signature, testevent};
use crate::tenants::secrets;
use anyhow::{Context, Result, anyhow, bail};
use entity::order;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

#[derive(clap::Args)]
pub struct Args {
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
}

pub async fn run(args: Args, config: &Config) -> Result<()> {
    let db = crate::db::open_migrated(config).await?;
    let tenant = tenant_of(&db, &args.slug).await?;
    let order = match args.order.as_deref() {
        Some(id) => Some(
            order::Entity::find()
                .filter(order::Column::TenantId.eq(tenant.id))
                .filter(order::Column::Id.eq(id))
                .one(&db)
                .await?
                .ok_or_else(|| anyhow!("tenant {} has no order {id}", tenant.slug))?,
        ),
        None => None,
    };
    let event = testevent::build(
        &args.event_type,
        order
            .as_ref()
            .map(|o| (o.id.as_str(), o.amount, o.currency.as_str())),
        order.as_ref().and_then(|o| o.payment_intent_id.as_deref()),
        // The order's own mode, so that it applies; a test event otherwise.
        order.as_ref().is_some_and(|o| o.livemode),
    )
    .map_err(|e| anyhow!(e))?;
    let rows = secrets::active_rows(&db, tenant.id, now_ms()).await?;
    let current = rows
        .iter()
        .find(|r| r.expires_at.is_none())
        .ok_or_else(|| {
            anyhow!(
                "tenant {} has no webhook secret: `gateway config set-secret {}`",
                tenant.slug,
                tenant.slug
            )
        })?;
    let secret = secrets::open_row(&config.keys, current)
        .with_context(|| format!("the secret of {} cannot be decrypted", tenant.slug))?;
    let body = serde_json::to_vec(&event).expect("JSON values serialize");
    let header = signature::sign_header(&secret, now_ms() / 1000, &body);
    let url = args.url.unwrap_or_else(|| {
        let port = config.bind_addr.port();
        format!(
            "http://127.0.0.1:{port}/api/v1/webhooks/stripe/{}",
            tenant.slug
        )
    });
    let response = crate::outbound::client(
        std::time::Duration::from_secs(30),
        crate::outbound::Destinations::Trusted,
    )
    .post(&url)
    .header("content-type", "application/json")
    .header("stripe-signature", header)
    .body(body)
    .send()
    .await
    .with_context(|| format!("cannot deliver to {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    println!(
        "{} {} → {} {}",
        event["type"].as_str().unwrap_or_default(),
        event["id"].as_str().unwrap_or_default(),
        status.as_u16(),
        text
    );
    if !status.is_success() {
        bail!("the gateway answered {status}");
    }
    Ok(())
}
