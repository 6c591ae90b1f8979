//! Sending an endpoint's backlog in order (CONTRACT §12): after a resume or a resend,
//! the endpoint's notifications up to `in_order_until` go out one at a time, oldest
//! first, each only once the one before it was delivered; newer ones wait behind them.
//! Then the endpoint is back to sending side by side.
//!
//! Replicas agree without talking: each looks at the endpoint's oldest pending
//! notification and sends it only when it is due and it claims it, so a second replica
//! finds it leased and waits.

use super::deliver::{Sender, claim};
use crate::clock::now_ms;
use entity::{notification, notification_endpoint as endpoint};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// The endpoints this replica is draining now.
#[derive(Default, Clone)]
pub struct Draining(Arc<Mutex<HashSet<i64>>>);

/// Starts a drain for each endpoint that has a backlog to send in order and none
/// running here.
pub(super) async fn drain(sender: &Sender<'_>, draining: &Draining) -> Result<(), DbErr> {
    let ordered: Vec<(i64, i64)> = endpoint::Entity::find()
        .select_only()
        .columns([endpoint::Column::Id, endpoint::Column::InOrderUntil])
        .filter(endpoint::Column::InOrderUntil.is_not_null())
        .filter(endpoint::Column::Paused.eq(false))
        .into_tuple()
        .all(sender.db)
        .await?;
    for (endpoint_id, until) in ordered {
        if !draining.0.lock().expect("drain lock").insert(endpoint_id) {
            continue;
        }
        let (db, ring, settings, http) = (
            sender.db.clone(),
            sender.ring.clone(),
            sender.settings.clone(),
            sender.http.clone(),
        );
        let draining = draining.clone();
        tokio::spawn(async move {
            let sender = Sender {
                db: &db,
                ring: &ring,
                settings: &settings,
                http: &http,
            };
            if let Err(e) = drain_one(&sender, endpoint_id, until).await {
                tracing::warn!(error = %e, endpoint_id, "an in-order backlog could not be sent");
            }
            draining.0.lock().expect("drain lock").remove(&endpoint_id);
        });
    }
    Ok(())
}

/// Sends the endpoint's backlog oldest first until it is done, or the oldest is not
/// due (it failed and waits for its retry, or another replica holds it).
async fn drain_one(sender: &Sender<'_>, endpoint_id: i64, until: i64) -> Result<(), DbErr> {
    loop {
        let oldest = notification::Entity::find()
            .filter(notification::Column::EndpointId.eq(endpoint_id))
            .filter(notification::Column::Status.eq("PENDING"))
            .order_by_asc(notification::Column::Id)
            .one(sender.db)
            .await?;
        let now = now_ms();
        match oldest {
            Some(n) if n.id <= until => {
                if n.next_attempt_at.is_some_and(|at| at > now)
                    || !claim(sender.db, &n, now).await?
                {
                    return Ok(());
                }
                let id = n.id;
                sender.send(n).await?;
                let after = notification::Entity::find_by_id(id).one(sender.db).await?;
                if after.is_none_or(|n| n.status == "PENDING") {
                    return Ok(());
                }
            }
            _ => {
                // The backlog is sent: back to side by side — unless a resend moved the
                // mark meanwhile, or made some of the backlog pending again (a resend of
                // the same notifications leaves the mark where it was).
                let pending_again = Query::select()
                    .expr(Expr::val(1))
                    .from(notification::Entity)
                    .and_where(notification::Column::EndpointId.eq(endpoint_id))
                    .and_where(notification::Column::Status.eq("PENDING"))
                    .and_where(notification::Column::Id.lte(until))
                    .to_owned();
                endpoint::Entity::update_many()
                    .col_expr(
                        endpoint::Column::InOrderUntil,
                        Expr::value(Option::<i64>::None),
                    )
                    .filter(endpoint::Column::Id.eq(endpoint_id))
                    .filter(endpoint::Column::InOrderUntil.eq(until))
                    .filter(Expr::exists(pending_again).not())
                    .exec(sender.db)
                    .await?;
                return Ok(());
            }
        }
    }
}
