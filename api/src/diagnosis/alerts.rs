//! Alerts: every `ALERT_INTERVAL_SECS`, each restaurant's error findings are compared
//! with those already alerted (`alert_state`, shared by replicas, so that one message
//! goes out however many run). A new one is posted as `firing`, one that went away as
//! `resolved`, to `ALERT_WEBHOOK_URL` when it is set. Posting happens in its own task
//! with a timeout: a receiver that hangs or fails never slows webhooks.

use super::{Asker, Finding, Severity, StripeCache, Viewer, diagnose};
use crate::clock::now_ms;
use crate::config::Config;
use crate::metrics::Metrics;
use entity::alert_state;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The message a receiver gets; `text` makes it a Slack or Teams incoming-webhook message.
#[derive(Debug, Serialize)]
pub struct Alert {
    pub text: String,
    pub tenant: String,
    pub code: String,
    pub severity: Severity,
    pub summary: String,
    pub fix: String,
    /// `firing` or `resolved`
    pub state: &'static str,
}

/// Error findings per tenant that are alerted now (for the restaurants list's badge).
pub async fn open_counts(db: &DatabaseConnection) -> Result<HashMap<i64, usize>, DbErr> {
    let mut counts = HashMap::new();
    for row in alert_state::Entity::find().all(db).await? {
        *counts.entry(row.tenant_id).or_default() += 1;
    }
    Ok(counts)
}

/// What one evaluation did: the alerts to send, and how many tenants it diagnosed.
#[derive(Debug, Default)]
pub struct Evaluated {
    pub alerts: Vec<Alert>,
    pub tenants: usize,
    pub diagnosed: usize,
}

/// One evaluation of every tenant. Only the tenants that may have an error finding
/// (`rules::may_have_errors`) or have an alert open are diagnosed: for the others,
/// nothing fires and nothing resolves.
pub async fn evaluate(
    db: &DatabaseConnection,
    config: &Config,
    cache: &StripeCache,
) -> Result<Evaluated, DbErr> {
    let tenants = crate::tenants::list(db, None).await?;
    let mut open_by_tenant: HashMap<i64, Vec<alert_state::Model>> = HashMap::new();
    for row in alert_state::Entity::find().all(db).await? {
        open_by_tenant.entry(row.tenant_id).or_default().push(row);
    }
    let mut suspects = super::rules::may_have_errors(db, config, &tenants).await?;
    suspects.extend(open_by_tenant.keys());
    let mut out = Evaluated {
        tenants: tenants.len(),
        ..Evaluated::default()
    };
    let alerts = &mut out.alerts;
    for t in tenants.iter().filter(|t| suspects.contains(&t.id)) {
        out.diagnosed += 1;
        let findings = diagnose(db, config, cache, t, Viewer::Platform, Asker::AlertRound).await?;
        let errors: HashMap<&str, &Finding> = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| (f.code, f))
            .collect();
        let open = open_by_tenant.remove(&t.id).unwrap_or_default();
        for row in &open {
            if !errors.contains_key(row.code.as_str()) {
                let gone = alert_state::Entity::delete_many()
                    .filter(alert_state::Column::TenantId.eq(t.id))
                    .filter(alert_state::Column::Code.eq(row.code.as_str()))
                    .exec(db)
                    .await?
                    .rows_affected
                    == 1;
                if gone {
                    alerts.push(Alert {
                        text: format!("✅ Resolved for {}: {}", t.slug, row.summary),
                        tenant: t.slug.clone(),
                        code: row.code.clone(),
                        severity: Severity::Error,
                        summary: row.summary.clone(),
                        fix: String::new(),
                        state: "resolved",
                    });
                }
            }
        }
        for (code, f) in errors {
            if open.iter().any(|row| row.code == code) {
                continue;
            }
            let inserted = alert_state::ActiveModel {
                tenant_id: Set(t.id),
                code: Set(code.to_string()),
                summary: Set(f.summary.clone()),
                fired_at: Set(now_ms()),
            }
            .insert(db)
            .await;
            match inserted {
                Ok(_) => alerts.push(Alert {
                    text: format!("🔴 {} — {} Fix: {}", t.slug, f.summary, f.fix),
                    tenant: t.slug.clone(),
                    code: code.to_string(),
                    severity: f.severity,
                    summary: f.summary.clone(),
                    fix: f.fix.clone(),
                    state: "firing",
                }),
                // Another replica alerted first.
                Err(e)
                    if matches!(
                        e.sql_err(),
                        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                    ) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(out)
}

/// Evaluates every `ALERT_INTERVAL_SECS`, for as long as the gateway runs.
pub async fn every(
    db: DatabaseConnection,
    config: Arc<Config>,
    cache: Arc<StripeCache>,
    metrics: Arc<Metrics>,
) {
    // The operator chose this URL (ALERT_WEBHOOK_URL): any address, verified TLS.
    let http = crate::outbound::client(
        Duration::from_secs(5),
        crate::outbound::Destinations::Trusted,
    );
    let mut ticker = tokio::time::interval(config.watch.alert_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let alerts = match evaluate(&db, &config, &cache).await {
            Ok(evaluated) => {
                metrics.alerts_evaluated(evaluated.tenants, evaluated.diagnosed);
                evaluated.alerts
            }
            Err(e) => {
                tracing::warn!(error = %e, "alerts could not be evaluated");
                continue;
            }
        };
        for alert in alerts {
            tracing::warn!(tenant = %alert.tenant, code = %alert.code, state = alert.state, "alert");
            let Some(url) = config.watch.alert_webhook_url.clone() else {
                continue;
            };
            let http = http.clone();
            tokio::spawn(async move {
                let sent = match http.post(&url).json(&alert).send().await {
                    Ok(r) if r.status().is_success() => true,
                    Ok(r) => {
                        tracing::warn!(
                            status = r.status().as_u16(),
                            "the alert receiver refused an alert"
                        );
                        false
                    }
                    Err(e) => {
                        let error = crate::outbound::describe(&e);
                        tracing::warn!(%error, "the alert receiver could not be reached");
                        false
                    }
                };
                crate::metrics::alert(alert.state, sent);
            });
        }
    }
}
