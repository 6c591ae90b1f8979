//! Diagnosis: the cause of a problem, named from the gateway's own records and, where
//! the restaurant gave an API key, from Stripe's (its webhook endpoints and recent
//! events), each finding with its evidence and the fix in plain words.

mod accounts;
pub mod alerts;
mod backend;
mod rules;

use crate::clock::now_ms;
use crate::config::Config;
use crate::stripe::api::{ApiError, Endpoint, ListedEvent, StripeApi};
use crate::tenants::stripe_key;
use entity::{tenant, webhook_event};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Orders are not being closed, or will not be.
    Error,
    /// Something is off; orders may still close.
    Warning,
}

/// One cause, with what shows it and what to do.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Finding {
    /// e.g. `wrong_secret`
    pub code: &'static str,
    pub severity: Severity,
    pub summary: String,
    /// What in the records (or in Stripe's answers) shows it.
    pub evidence: Vec<String>,
    /// What to do, in plain words.
    pub fix: String,
}

/// Who is asking: a tenant admin is not told the names of other restaurants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    Platform,
    Tenant,
}

/// What Stripe's API said about a tenant, kept briefly.
#[derive(Debug, Clone)]
pub enum StripeView {
    NoKey,
    Unusable(String),
    Rejected,
    Failed(String),
    Seen {
        endpoints: Vec<Endpoint>,
        recent: Vec<ListedEvent>,
        /// Asked with the platform's key for the tenant's connected account: the
        /// endpoint that must exist is the platform's Connect endpoint.
        connect: bool,
    },
}

/// What Stripe said of each tenant, and when it was asked (see `Asker`).
#[derive(Default)]
pub struct StripeCache {
    entries: Mutex<HashMap<i64, (Instant, StripeView)>>,
}

/// Who wants a diagnosis, which says how old what Stripe said may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    /// Someone looking (the panel, the API, the CLI): Stripe is asked again once
    /// what it said is 10 s old.
    Person,
    /// The alert round, which diagnoses every tenant with a Stripe key each round
    /// (every minute by default, on every replica): Stripe is asked about a tenant at
    /// most every 10 minutes, since each ask lists three days of its events (up to
    /// ten pages). A new key is asked about at once (`forget`).
    AlertRound,
}

impl Asker {
    fn stripe_at_most_every(self) -> Duration {
        match self {
            Self::Person => Duration::from_secs(10),
            Self::AlertRound => Duration::from_secs(600),
        }
    }
}

impl StripeCache {
    /// Forgets what Stripe said about a tenant (its key changed).
    pub fn forget(&self, tenant_id: i64) {
        self.entries.lock().expect("cache lock").remove(&tenant_id);
    }

    /// Forgets every tenant (the platform's key changed: every linked tenant's view).
    pub fn forget_all(&self) {
        self.entries.lock().expect("cache lock").clear();
    }

    pub async fn view(
        &self,
        db: &DatabaseConnection,
        config: &Config,
        tenant_id: i64,
        asker: Asker,
    ) -> StripeView {
        if let Some((at, view)) = self.entries.lock().expect("cache lock").get(&tenant_id)
            && at.elapsed() < asker.stripe_at_most_every()
        {
            return view.clone();
        }
        let view = ask_stripe(db, config, tenant_id).await;
        // "No key" asked Stripe nothing, and is not kept: a key saved by the CLI (another
        // process, which cannot `forget`) counts at the next diagnosis.
        if !matches!(view, StripeView::NoKey) {
            self.entries
                .lock()
                .expect("cache lock")
                .insert(tenant_id, (Instant::now(), view.clone()));
        }
        view
    }
}

async fn ask_stripe(db: &DatabaseConnection, config: &Config, tenant_id: i64) -> StripeView {
    let tenant = match entity::tenant::Entity::find_by_id(tenant_id).one(db).await {
        Ok(Some(tenant)) => tenant,
        Ok(None) => return StripeView::NoKey,
        Err(e) => return StripeView::Failed(e.to_string()),
    };
    let access = match stripe_key::access(db, &config.keys, &tenant).await {
        Ok(Some(access)) => access,
        Ok(None) => return StripeView::NoKey,
        Err(e) => return StripeView::Unusable(e.to_string()),
    };
    // The endpoints are the key's own (for a connected account, the platform's: its
    // Connect endpoint); the events are the account's.
    let endpoints_api = StripeApi::new(&config.watch.stripe_api_base, &access.key);
    let events_api = StripeApi::new(&config.watch.stripe_api_base, &access.key)
        .on_account(access.account.as_deref());
    let since = now_ms() / 1000 - 3 * 24 * 3600;
    let result = async {
        let endpoints = endpoints_api.webhook_endpoints().await?;
        let recent = events_api.events_since(since, 1000).await?;
        Ok::<_, ApiError>(StripeView::Seen {
            endpoints,
            recent,
            connect: access.account.is_some(),
        })
    }
    .await;
    match result {
        Ok(view) => view,
        Err(ApiError::KeyRejected) => StripeView::Rejected,
        Err(e) => StripeView::Failed(e.to_string()),
    }
}

/// A finding, its fix given as words.
fn finding(
    code: &'static str,
    severity: Severity,
    summary: String,
    evidence: Vec<String>,
    fix: &str,
) -> Finding {
    Finding {
        code,
        severity,
        summary,
        evidence,
        fix: fix.to_string(),
    }
}

/// The tenant's rows of the event log.
fn events(tenant_id: i64) -> sea_orm::Select<webhook_event::Entity> {
    webhook_event::Entity::find().filter(webhook_event::Column::TenantId.eq(tenant_id))
}

/// Every finding for the tenant now, errors first.
pub async fn diagnose(
    db: &DatabaseConnection,
    config: &Config,
    cache: &StripeCache,
    tenant: &tenant::Model,
    viewer: Viewer,
    asker: Asker,
) -> Result<Vec<Finding>, DbErr> {
    let mut findings = rules::from_records(db, config, tenant, viewer).await?;
    findings.extend(accounts::from_records(db, config, tenant).await?);
    findings.extend(backend::from_records(db, config, tenant, now_ms()).await?);
    let view = cache.view(db, config, tenant.id, asker).await;
    findings.extend(rules::from_stripe(db, config, tenant, &view).await?);
    findings.sort_by_key(|f| (f.severity != Severity::Error, f.code));
    Ok(findings)
}
