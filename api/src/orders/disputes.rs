//! What a restaurant needs to know of a dispute on one of its orders: how much, why,
//! where it stands and by when evidence is due (CONTRACT §11). Disputes are kept on
//! their payments (see `lifecycle`); this reads them for admins, notifications and
//! diagnosis.

use super::lifecycle::PaymentFacts;
use crate::clock::ms_to_rfc3339;
use crate::stripe::event::{Dispute, DisputeStatus};
use entity::payment;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use serde::Serialize;

/// A dispute on one of an order's payments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DisputeView {
    /// Stripe's dispute id (`dp_…`, or `du_…` for an inquiry).
    pub id: String,
    /// `warning_needs_response`, `warning_under_review`, `needs_response`,
    /// `under_review`, `warning_closed`, `won` or `lost`.
    pub status: String,
    pub amount: i64,
    pub currency: Option<String>,
    pub reason: Option<String>,
    /// When the evidence is due: after it the restaurant loses the money by default.
    #[schema(format = DateTime)]
    pub evidence_due_by: Option<String>,
}

impl From<&Dispute> for DisputeView {
    fn from(d: &Dispute) -> Self {
        DisputeView {
            id: d.id.clone(),
            status: d.status.as_str().to_owned(),
            amount: d.amount,
            currency: d.currency.clone(),
            reason: d.reason.clone(),
            evidence_due_by: d.evidence_due_by.map(|s| ms_to_rfc3339(s * 1000)),
        }
    }
}

/// Every dispute of these payments: lost first, then open, then the rest.
pub fn of_payments<'a>(payments: impl IntoIterator<Item = &'a payment::Model>) -> Vec<Dispute> {
    let mut all: Vec<Dispute> = payments
        .into_iter()
        .flat_map(|p| PaymentFacts::disputes_from_json(&p.disputes).into_values())
        .collect();
    all.sort_by_key(|d| {
        let rank = match d.status {
            DisputeStatus::Lost => 0,
            s if !s.is_closed() => 1,
            _ => 2,
        };
        (rank, d.id.clone())
    });
    all
}

/// The disputed payments of a tenant (those whose disputes are not `{}`), at most
/// `limit`: what diagnosis looks through for disputes awaiting an answer.
pub async fn disputed_payments<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    limit: u64,
) -> Result<Vec<payment::Model>, DbErr> {
    payment::Entity::find()
        .filter(payment::Column::TenantId.eq(tenant_id))
        // Written out, so that it matches the partial index `ix_payments_disputed`.
        .filter(Expr::cust("payments.disputes <> '{}'"))
        .limit(limit)
        .all(db)
        .await
}

/// The payments of these orders of one tenant (for a notification's dispute).
pub async fn payments_of<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    order_ids: Vec<String>,
) -> Result<Vec<payment::Model>, DbErr> {
    payment::Entity::find()
        .filter(payment::Column::TenantId.eq(tenant_id))
        .filter(payment::Column::OrderId.is_in(order_ids))
        .all(db)
        .await
}

/// The tenants with a disputed payment (through the partial index).
pub async fn tenants_with_disputes<C: ConnectionTrait>(db: &C) -> Result<Vec<i64>, DbErr> {
    payment::Entity::find()
        .select_only()
        .column(payment::Column::TenantId)
        .distinct()
        .filter(Expr::cust("payments.disputes <> '{}'"))
        .into_tuple()
        .all(db)
        .await
}
