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
    /// checkout.session.completed, checkout.session.expired,
    /// checkout.session.async_payment_succeeded, checkout.session.async_payment_failed,
    /// payment_intent.succeeded, payment_intent.payment_failed, payment_intent.canceled,
    /// charge.succeeded, charge.failed, charge.refunded, charge.dispute.created,
    /// charge.dispute.updated, charge.dispute.closed, account.updated,
    /// account.application.deauthorized
    #[arg(long = "type")]
    event_type: String,
    /// A dispute's status for charge.dispute.* (won or lost when closed; by default
    /// needs_response when created, under_review when updated, won when closed).
    #[arg(long)]
    dispute_status: Option<String>,
    /// The gateway order the event is about (sets metadata.order_id).
    #[arg(long)]
    order: Option<String>,
    /// Where to deliver: a gateway's address (`http://127.0.0.1:3000`, the webhook path
    /// is added) or a full webhook URL; defaults to this machine's gateway at BIND_ADDR
    /// (or PORT).
    #[arg(long)]
    url: Option<String>,
    /// Send it as the platform's Connect endpoint would: about this connected account
    /// (`account`), signed with the Connect secret, to /api/v1/webhooks/stripe/connect.
    #[arg(long, value_name = "ACCOUNT")]
    connect: Option<String>,
}

pub async fn run(args: Args, config: &Config) -> Result<()> {
    let db = super::open(config).await?;
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
    if args.event_type.starts_with("charge.dispute.")
        && let Some(o) = &order
        && o.payment_intent_id.is_none()
    {
        bail!(
            "order {} has no PaymentIntent yet, and a dispute finds its order through its \
             payment: send checkout.session.completed (or payment_intent.succeeded) first",
            o.id
        );
    }
    // Signed as Stripe's endpoint of the event's mode signs it: the order's mode (so
    // that it applies), else test when the restaurant has a test secret, else live.
    let account = match args.connect.as_deref() {
        Some(text) => Some(
            crate::tenants::connect::AccountId::parse(text)
                .map_err(|e| anyhow!("--connect: {e}"))?,
        ),
        None => None,
    };
    let signer = match &account {
        Some(_) => crate::tenants::connect::platform(&db)
            .await?
            .ok_or_else(|| {
                anyhow!("no Connect endpoint secret is set: `gateway config set-connect-secret`")
            })?,
        None => tenant.clone(),
    };
    let rows = secrets::active_rows(&db, signer.id, now_ms()).await?;
    let current = |mode: &str| {
        rows.iter()
            .find(|r| r.expires_at.is_none() && r.mode == mode)
    };
    let livemode = match &order {
        Some(o) => o.livemode,
        None => current("test").is_none() && current("live").is_some(),
    };
    let mode = if livemode { "live" } else { "test" };
    let current = current(mode).ok_or_else(|| match &account {
        Some(_) => anyhow!(
            "no {mode} Connect endpoint secret is set: `gateway config set-connect-secret --mode {mode}`"
        ),
        None => anyhow!(
            "tenant {} has no {mode} webhook secret: `gateway config set-secret {} --mode {mode}`",
            tenant.slug,
            tenant.slug
        ),
    })?;
    let about = testevent::About {
        order: order
            .as_ref()
            .map(|o| (o.id.as_str(), o.amount, o.currency.as_str())),
        payment_intent: order.as_ref().and_then(|o| o.payment_intent_id.as_deref()),
        livemode,
        dispute_status: args.dispute_status.as_deref(),
        account: account.as_ref().map(|a| a.as_str()),
    };
    let event = testevent::build(&args.event_type, &about).map_err(|e| anyhow!(e))?;
    let secret = secrets::open_row(&config.keys, current)
        .with_context(|| format!("the secret of {} cannot be decrypted", tenant.slug))?;
    let body = serde_json::to_vec(&event).expect("JSON values serialize");
    let header = signature::sign_header(&secret, now_ms() / 1000, &body);
    let url = delivery_url(args.url.as_deref(), config.bind_addr, &signer.slug)?;
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

/// Where the event goes: `given` as it is when it names a path, else `given` (or this
/// machine's gateway at `bind`) with the tenant's webhook path.
fn delivery_url(given: Option<&str>, bind: std::net::SocketAddr, slug: &str) -> Result<String> {
    let path = format!("/api/v1/webhooks/stripe/{slug}");
    let Some(given) = given else {
        // A gateway listening on every address is reached on loopback.
        let host = match bind.ip() {
            ip if ip.is_unspecified() && ip.is_ipv6() => "[::1]".to_string(),
            ip if ip.is_unspecified() => "127.0.0.1".to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        return Ok(format!("http://{host}:{}{path}", bind.port()));
    };
    let parsed = url::Url::parse(given).with_context(|| format!("--url {given:?} is not a URL"))?;
    if parsed.path() == "/" {
        return Ok(format!("{}{path}", given.trim_end_matches('/')));
    }
    Ok(given.to_string())
}

#[cfg(test)]
mod tests {
    use super::delivery_url;

    #[test]
    fn a_gateway_address_gets_the_webhook_path() {
        let bind = "0.0.0.0:3000".parse().unwrap();
        assert_eq!(
            delivery_url(None, bind, "pizza-roma").unwrap(),
            "http://127.0.0.1:3000/api/v1/webhooks/stripe/pizza-roma"
        );
        assert_eq!(
            delivery_url(Some("http://127.0.0.1:4000"), bind, "pizza-roma").unwrap(),
            "http://127.0.0.1:4000/api/v1/webhooks/stripe/pizza-roma"
        );
        assert_eq!(
            delivery_url(Some("http://127.0.0.1:4000/"), bind, "pizza-roma").unwrap(),
            "http://127.0.0.1:4000/api/v1/webhooks/stripe/pizza-roma"
        );
        let full = "https://pay.example.com/api/v1/webhooks/stripe/pizza-roma";
        assert_eq!(delivery_url(Some(full), bind, "pizza-roma").unwrap(), full);
        assert!(delivery_url(Some("not a url"), bind, "pizza-roma").is_err());
    }
}
