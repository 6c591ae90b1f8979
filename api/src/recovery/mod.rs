//! Recovery: events Stripe has and the gateway never received (it was down, the secret
//! was wrong, the endpoint pointed elsewhere, Stripe gave up after 3 days) are fetched
//! with the restaurant's API key, stored in the same log as deliveries (`source`
//! `recovered`) and applied exactly like them: once, whatever arrives later by webhook.

use crate::clock::now_ms;
use crate::stripe::api::{ApiError, StripeApi};
use crate::stripe::event;
use crate::tenants::stripe_key::{self, OpenKeyError};
use crate::vault::KeyRing;
use crate::webhooks::inbox::{self, Written};
use crate::webhooks::log::{Source, Verified};
use entity::{recovery_state, tenant};
use sea_orm::{ActiveModelTrait, DatabaseConnection, DbErr, EntityTrait, Set};
use serde::Serialize;
use std::time::Duration;

/// Stripe keeps events for 30 days; a first recovery looks back 3 (its retry window).
const FIRST_LOOK_BACK_MS: i64 = 3 * 24 * 3600 * 1000;
const OLDEST_MS: i64 = 30 * 24 * 3600 * 1000;
/// Each run looks this far behind where the previous one ended.
const OVERLAP_MS: i64 = 3600 * 1000;
const MAX_EVENTS: usize = 20_000;

/// What a recovery did.
#[derive(Debug, Default, Clone, Serialize, utoipa::ToSchema)]
pub struct Summary {
    /// Events Stripe listed.
    pub listed: usize,
    /// Of those, the ones the gateway already had.
    pub already_had: usize,
    /// Stored and applied now.
    pub recovered: usize,
    /// Could not be read or applied (stored ones are retried like any event).
    pub failed: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error(
        "no Stripe API key is set for this restaurant (nor, for a restaurant linked to a connected account, for the platform): set one with `gateway config set-api-key SLUG` (or PUT /api/v1/admin/connect-config {{\"stripe_api_key\"}})"
    )]
    NoKey,
    #[error(transparent)]
    Key(#[from] OpenKeyError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Fetches the tenant's events created since `since` (ms; by default where the last
/// run ended, less an hour, or 3 days back) and applies those never received.
pub async fn recover(
    db: &DatabaseConnection,
    ring: &KeyRing,
    api_base: &str,
    tenant: &tenant::Model,
    since: Option<i64>,
    lease: Duration,
) -> Result<Summary, RecoverError> {
    let started = now_ms();
    let result = run(db, ring, api_base, tenant, since, lease).await;
    let state = recovery_state::ActiveModel {
        tenant_id: Set(tenant.id),
        recovered_until: Set(match &result {
            Ok(_) => started,
            Err(_) => previous_end(db, tenant.id).await?.unwrap_or(0),
        }),
        last_run_at: Set(started),
        last_error: Set(result.as_ref().err().map(|e| e.to_string())),
    };
    recovery_state::Entity::delete_by_id(tenant.id)
        .exec(db)
        .await?;
    state.insert(db).await?;
    crate::metrics::recovery(match &result {
        Ok(summary) => Ok(summary.recovered as u64),
        Err(_) => Err(()),
    });
    result
}

async fn previous_end(db: &DatabaseConnection, tenant_id: i64) -> Result<Option<i64>, DbErr> {
    Ok(recovery_state::Entity::find_by_id(tenant_id)
        .one(db)
        .await?
        .map(|s| s.recovered_until)
        .filter(|t| *t > 0))
}

async fn run(
    db: &DatabaseConnection,
    ring: &KeyRing,
    api_base: &str,
    tenant: &tenant::Model,
    since: Option<i64>,
    lease: Duration,
) -> Result<Summary, RecoverError> {
    let access = stripe_key::access(db, ring, tenant)
        .await?
        .ok_or(RecoverError::NoKey)?;
    let now = now_ms();
    let since = match since {
        Some(since) => since,
        None => match previous_end(db, tenant.id).await? {
            Some(end) => end - OVERLAP_MS,
            None => now - FIRST_LOOK_BACK_MS,
        },
    }
    .max(now - OLDEST_MS);
    let api = StripeApi::new(api_base, &access.key).on_account(access.account.as_deref());
    let mut listed = api.events_since(since / 1000, MAX_EVENTS).await?;
    listed.reverse(); // oldest first
    let mut summary = Summary {
        listed: listed.len(),
        ..Summary::default()
    };
    let mut events = Vec::new();
    for item in listed {
        match event::parse(item.json.as_bytes()) {
            Ok(facts) => events.push(Verified {
                tenant_id: tenant.id,
                tenant_slug: tenant.slug.clone(),
                payload: item.json,
                span: tracing::debug_span!("recovered", tenant = %tenant.slug, stripe_event_id = %facts.event_id),
                facts,
                source: Source::Recovered,
            }),
            Err(e) => {
                tracing::warn!(stripe_event_id = %item.id, error = %e, "a listed event could not be read");
                summary.failed += 1;
            }
        }
    }
    for chunk in events.chunks(200) {
        let group: Vec<&Verified> = chunk.iter().collect();
        // Stored and applied like deliveries; one that cannot be applied yet is stored
        // PROCESSING, and the sweep of a running gateway retries it.
        let stored = inbox::store_group(db, &group, lease).await?;
        for written in stored.written {
            match written {
                Written::Duplicate => summary.already_had += 1,
                Written::Applied(_) => summary.recovered += 1,
                Written::Pending(event_row_id) => {
                    tracing::warn!(event_row_id, "a recovered event could not be applied yet");
                    summary.failed += 1;
                }
            }
        }
    }
    if summary.recovered > 0 {
        tracing::info!(tenant = %tenant.slug, recovered = summary.recovered, "recovered events Stripe had not delivered");
    }
    Ok(summary)
}

/// Every `interval`, recovers each tenant that has a Stripe API key.
pub async fn every(
    db: DatabaseConnection,
    ring: KeyRing,
    api_base: String,
    interval: Duration,
    lease: Duration,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let tenants = match with_keys(&db).await {
            Ok(tenants) => tenants,
            Err(e) => {
                tracing::warn!(error = %e, "recovery could not list the restaurants with a Stripe key");
                continue;
            }
        };
        for tenant in tenants {
            if let Err(e) = recover(&db, &ring, &api_base, &tenant, None, lease).await {
                tracing::warn!(tenant = %tenant.slug, error = %e, "automatic recovery failed");
            }
        }
    }
}

/// The restaurants with a key of their own, and, when the platform has a key, those
/// linked to a connected account (never the platform's own settings).
async fn with_keys(db: &DatabaseConnection) -> Result<Vec<tenant::Model>, DbErr> {
    use sea_orm::{ColumnTrait, Condition, QueryFilter};
    let ids: Vec<i64> = entity::stripe_api_key::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|k| k.tenant_id)
        .collect();
    let platform = crate::tenants::connect::platform(db).await?;
    let mut any = Condition::any().add(tenant::Column::Id.is_in(ids.clone()));
    if let Some(platform) = &platform
        && ids.contains(&platform.id)
    {
        any = any.add(tenant::Column::ConnectAccountId.is_not_null());
    }
    tenant::Entity::find()
        .filter(any)
        .filter(tenant::Column::Slug.ne(crate::tenants::slug::CONNECT))
        .all(db)
        .await
}
