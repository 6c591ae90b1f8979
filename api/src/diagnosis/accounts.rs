//! The findings about a restaurant's Stripe account and its money beyond a delivery:
//! the Connect endpoint's secret for a linked restaurant, a connected account that
//! cannot charge or left the platform, disputes awaiting an answer.

use super::{Finding, Severity, events, finding};
use crate::clock::ms_to_rfc3339;
use crate::config::Config;
use crate::orders::disputes::{self, DisputeView};
use crate::tenants::secrets::{self, Health};
use entity::{tenant, webhook_event};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, QueryFilter, QueryOrder};

/// For a restaurant verified through the Connect endpoint: the platform's Connect secret.
/// Every finding of this kind for the tenant.
pub(super) async fn from_records(
    db: &DatabaseConnection,
    config: &Config,
    tenant: &tenant::Model,
) -> Result<Vec<Finding>, DbErr> {
    let mut out = Vec::new();
    if tenant.connect_account_id.is_some()
        && secrets::check(db, &config.keys, tenant.id).await? == Health::Missing
    {
        connect_secret_finding(db, config, &mut out).await?;
    }
    account_findings(db, tenant, &mut out).await?;
    dispute_findings(db, tenant, &mut out).await?;
    Ok(out)
}

/// For a restaurant verified through the Connect endpoint: the platform's Connect secret.
async fn connect_secret_finding(
    db: &DatabaseConnection,
    config: &Config,
    out: &mut Vec<Finding>,
) -> Result<(), DbErr> {
    let health = match crate::tenants::connect::platform(db).await? {
        Some(platform) => secrets::check(db, &config.keys, platform.id).await?,
        None => Health::Missing,
    };
    match health {
        Health::Ok { .. } => {}
        Health::Missing => out.push(finding(
            "no_secret",
            Severity::Error,
            "No Stripe Connect endpoint secret is set: the Connect endpoint refuses every delivery (404 no_config), this restaurant's among them.".into(),
            vec![],
            "Copy the signing secret of the platform's Connect endpoint (Stripe's dashboard → Developers → Webhooks → the endpoint listening to connected accounts) and save it under Stripe Connect (PUT /api/v1/admin/connect-config, or `gateway config set-connect-secret`).",
        )),
        Health::Broken(why) => out.push(finding(
            "undecryptable_secret",
            Severity::Error,
            "The stored Stripe Connect endpoint secret cannot be decrypted: Connect deliveries are answered 503.".into(),
            vec![why],
            "If the encryption key changed, list the old one in PAYMENT_CONFIG_ENC_KEY_PREVIOUS and run `gateway keys rotate`; otherwise enter the Connect secret again.",
        )),
    }
    Ok(())
}

/// A linked connected account that cannot take payments, or that disconnected the
/// platform: orders will not be paid until it is fixed in Stripe.
async fn account_findings(
    db: &DatabaseConnection,
    tenant: &tenant::Model,
    out: &mut Vec<Finding>,
) -> Result<(), DbErr> {
    let Some(account) = &tenant.connect_account_id else {
        return Ok(());
    };
    let latest = |kind: &'static str| {
        events(tenant.id)
            .filter(webhook_event::Column::EventType.eq(kind))
            .filter(webhook_event::Column::DedupKey.is_not_null())
            .order_by_desc(webhook_event::Column::Id)
            .one(db)
    };
    if let Some(row) = latest("account.updated").await? {
        let object: Option<serde_json::Value> = row
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
            .map(|e| e["data"]["object"].clone());
        let disabled = object.as_ref().is_some_and(|o| {
            o["charges_enabled"] == false && o["id"].as_str().is_none_or(|id| id == account)
        });
        if let Some(object) = object.filter(|_| disabled) {
            let reason = object["requirements"]["disabled_reason"]
                .as_str()
                .unwrap_or("not given");
            out.push(finding(
                "account_charges_disabled",
                Severity::Error,
                format!("Stripe disabled charges on connected account {account}: this restaurant's customers cannot pay."),
                vec![
                    format!("{} ({}): charges_enabled false", row.stripe_event_id.unwrap_or_default(), ms_to_rfc3339(row.received_at)),
                    format!("disabled_reason: {reason}"),
                ],
                "Have the restaurant complete what Stripe asks for (Stripe's dashboard → Connected accounts → the account → Requirements); charges come back on with the next account.updated.",
            ));
        }
    }
    if let Some(row) = latest("account.application.deauthorized").await?
        && row.received_at >= tenant.updated_at
    {
        out.push(finding(
            "account_deauthorized",
            Severity::Error,
            format!("Connected account {account} disconnected the platform: its events no longer come, and its payments cannot be checked."),
            vec![format!("{} ({})", row.stripe_event_id.unwrap_or_default(), ms_to_rfc3339(row.received_at))],
            "Ask the restaurant to connect its Stripe account to the platform again (onboarding link), then link the restaurant to the account again (PUT …/connect).",
        ));
    }
    Ok(())
}

/// Disputes awaiting the restaurant's answer: until the evidence is in (or the dispute
/// moves on), the money is lost by default on the due date.
async fn dispute_findings(
    db: &DatabaseConnection,
    tenant: &tenant::Model,
    out: &mut Vec<Finding>,
) -> Result<(), DbErr> {
    let payments = disputes::disputed_payments(db, tenant.id, 500).await?;
    let waiting: Vec<(String, DisputeView)> = payments
        .iter()
        .flat_map(|p| {
            let order = p.order_id.clone().unwrap_or_else(|| "no order".into());
            disputes::of_payments([p])
                .into_iter()
                .filter(|d| d.status.needs_response())
                .map(move |d| (order.clone(), DisputeView::from(&d)))
        })
        .collect();
    if waiting.is_empty() {
        return Ok(());
    }
    let due = waiting
        .iter()
        .filter_map(|(_, d)| d.evidence_due_by.clone())
        .min();
    out.push(finding(
        "dispute_needs_response",
        Severity::Error,
        match due {
            Some(due) => format!("{} disputes need the restaurant's response; the first is due {due}.", waiting.len()),
            None => format!("{} disputes need the restaurant's response.", waiting.len()),
        },
        waiting.iter().take(10).map(|(order, d)| format!(
            "{order}: {} {} {} ({}), evidence due by {}",
            d.id, d.amount, d.currency.as_deref().unwrap_or("?"), d.reason.as_deref().unwrap_or("no reason given"),
            d.evidence_due_by.as_deref().unwrap_or("unknown"),
        )).collect(),
        "Answer each dispute in Stripe's dashboard (Payments → Disputes) with the order's evidence (receipt, what was served, when) before its due date; otherwise the money goes back to the customer.",
    ));
    Ok(())
}
