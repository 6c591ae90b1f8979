//! Joining a group's events to its rows in memory, one after another in the group's
//! order, exactly as applying them one at a time would (see `lifecycle`).

use super::{Applied, OrderChange, OrderRow, Outcome, PaymentRow, Rows, facts_of};
use crate::orders::lifecycle::{Ended, Money, OrderStatus, Totals, status_of};
use crate::stripe::event::{Effect, EventFacts};
use entity::{order, payment};

impl Rows {
    pub(super) fn add_orders(&mut self, found: Vec<order::Model>) {
        for model in found {
            if self.order(model.tenant_id, &model.id).is_none() {
                self.orders.push(OrderRow {
                    totals: Totals::from_json(model.totals.as_deref()),
                    original: model.clone(),
                    model,
                });
            }
        }
    }

    pub(super) fn add_payments(&mut self, found: Vec<payment::Model>) {
        for model in found {
            if !self.payments.iter().any(|p| p.model.id == model.id) {
                self.payments.push(PaymentRow {
                    original: Some(model.clone()),
                    model,
                });
            }
        }
    }

    /// Fails on an order whose kept totals cannot be read (only a hand-edited row can
    /// have such): summed again from the payments read, they would miss the payments
    /// not read, so the events wait for the processor, whose error names the order.
    pub(super) fn check_totals(&self) -> Result<(), sea_orm::DbErr> {
        match self
            .orders
            .iter()
            .find(|o| o.totals.is_none() && o.model.totals.is_some())
        {
            Some(o) => Err(sea_orm::DbErr::Custom(format!(
                "order {}: its running totals ({:?}) are not readable; set them to NULL to have them summed again",
                o.model.id,
                o.model.totals.as_deref().unwrap_or_default()
            ))),
            None => Ok(()),
        }
    }

    /// The orders read that do not keep running totals yet: all their payments are
    /// read too (see `totals`).
    pub(super) fn orders_without_totals(&self) -> Vec<(i64, String)> {
        self.orders
            .iter()
            .filter(|o| o.totals.is_none())
            .map(|o| (o.model.tenant_id, o.model.id.clone()))
            .collect()
    }

    pub(super) fn order(&self, tenant_id: i64, id: &str) -> Option<usize> {
        self.orders
            .iter()
            .position(|o| o.model.tenant_id == tenant_id && o.model.id == id)
    }

    /// The running totals of order `o`: as kept, or (for an order from before they
    /// were) summed from its payments, all of which were read with it.
    pub(super) fn totals(&self, o: usize) -> Totals {
        let order = &self.orders[o].model;
        self.orders[o].totals.unwrap_or_else(|| {
            let payments: Vec<_> = self
                .payments
                .iter()
                .filter(|p| {
                    p.model.tenant_id == order.tenant_id
                        && p.model.order_id.as_deref() == Some(order.id.as_str())
                })
                .map(|p| facts_of(&p.model))
                .collect();
            Totals::of_payments(&order.currency, &payments)
        })
    }

    /// The order payment `i` belongs to, and what it adds to that order's totals.
    fn contribution(&self, i: usize) -> Option<(usize, Totals)> {
        let p = &self.payments[i].model;
        let o = self.order(p.tenant_id, p.order_id.as_deref()?)?;
        let currency = &self.orders[o].model.currency;
        Some((o, Totals::of_payment(currency, &facts_of(p))))
    }

    /// Changes payment `i` by `change`, moving what it adds to its order's running
    /// totals: they lose what it added before and gain what it adds now. (Every order
    /// of a payment read is read too: see `read::load`.)
    fn change_payment(&mut self, i: usize, change: impl FnOnce(&mut payment::Model)) {
        let before = self.contribution(i);
        change(&mut self.payments[i].model);
        let after = self.contribution(i);
        self.move_totals(before, after);
    }

    /// Takes a payment's contribution `before` off its order's totals and adds the
    /// one `after`.
    fn move_totals(&mut self, before: Option<(usize, Totals)>, after: Option<(usize, Totals)>) {
        if let Some((o, t)) = before
            && let Some(totals) = &mut self.orders[o].totals
        {
            *totals -= t;
        }
        if let Some((o, t)) = after
            && let Some(totals) = &mut self.orders[o].totals
        {
            *totals += t;
        }
    }

    /// Each order's running totals into its row, to be written with it.
    pub(super) fn keep_totals(&mut self) {
        for o in 0..self.orders.len() {
            let kept = Some(self.totals(o).to_json());
            if self.orders[o].model.totals != kept {
                self.orders[o].model.totals = kept;
            }
        }
    }

    fn payment(&self, tenant_id: i64, key: &str) -> Option<usize> {
        self.payments
            .iter()
            .position(|p| p.model.tenant_id == tenant_id && p.model.payment_key == key)
    }

    /// The order an event is about: by `metadata.order_id`, by `client_reference_id`,
    /// by the session or PaymentIntent id an earlier event recorded, or through the
    /// payment.
    fn find_order(&self, tenant_id: i64, facts: &EventFacts) -> Option<usize> {
        let by = |column: fn(&order::Model) -> Option<&str>, id: &Option<String>| {
            let id = id.as_deref()?;
            self.orders
                .iter()
                .position(|o| o.model.tenant_id == tenant_id && column(&o.model) == Some(id))
        };
        facts
            .order_refs
            .iter()
            .find_map(|id| self.order(tenant_id, id))
            .or_else(|| {
                by(
                    |o| o.checkout_session_id.as_deref(),
                    &facts.checkout_session_id,
                )
            })
            .or_else(|| by(|o| o.payment_intent_id.as_deref(), &facts.payment_intent_id))
            .or_else(|| {
                let key = facts.payment_key()?;
                let payment = &self.payments[self.payment(tenant_id, key)?].model;
                self.order(tenant_id, payment.order_id.as_deref()?)
            })
    }

    /// One event, as `store::apply` describes.
    pub(super) fn apply(
        &mut self,
        tenant_id: i64,
        facts: &EventFacts,
        now: i64,
        changes: &mut Vec<OrderChange>,
    ) -> Applied {
        if facts.signed_in_other_mode() {
            return Applied {
                outcome: Outcome::ModeMismatch,
                order_id: None,
            };
        }
        if facts.effect == Effect::Ignored {
            return Applied {
                outcome: Outcome::Ignored,
                order_id: None,
            };
        }
        let found = self.find_order(tenant_id, facts);
        if let Some(i) = found
            && self.orders[i].model.livemode != facts.livemode
        {
            return Applied {
                outcome: Outcome::ModeMismatch,
                order_id: Some(self.orders[i].model.id.clone()),
            };
        }
        if let Some(key) = facts.payment_key() {
            let order =
                found.map(|i| (self.orders[i].model.id.clone(), self.orders[i].model.amount));
            self.record_payment(tenant_id, key, facts, order, now);
        }
        let Some(i) = found else {
            return Applied {
                outcome: Outcome::Unmatched,
                order_id: None,
            };
        };
        let order_id = self.orders[i].model.id.clone();

        if let Some(pi) = &facts.payment_intent_id {
            self.link_payment(tenant_id, pi, &order_id);
        }
        let totals = self.totals(i);
        let order = &mut self.orders[i].model;
        let ended = Ended {
            expired: order.expired || facts.effect == Effect::Expired,
            canceled: order.canceled || facts.effect == Effect::Canceled,
        };
        let money = Money {
            amount: order.amount,
            currency: &order.currency,
        };
        let mut status = status_of(money, ended, &totals);
        // An admin's manual status is a floor: events may raise the order above it.
        if let Some(floor) = order.manual_status.as_deref().and_then(OrderStatus::parse) {
            status = status.max(floor);
        }
        let status_changed = status.as_str() != order.status;
        if order.checkout_session_id.is_none() {
            order.checkout_session_id = facts.checkout_session_id.clone();
        }
        if order.payment_intent_id.is_none() {
            order.payment_intent_id = facts.payment_intent_id.clone();
        }
        if order.customer_email.is_none() {
            order.customer_email = facts.customer_email.clone();
        }
        order.expired = ended.expired;
        order.canceled = ended.canceled;
        if status_changed {
            order.status = status.as_str().to_string();
            order.updated_at = now;
            changes.push(OrderChange::with(
                order.clone(),
                &totals,
                facts.metadata.clone(),
            ));
        }
        Applied {
            outcome: if status_changed {
                Outcome::Applied
            } else {
                Outcome::Unchanged
            },
            order_id: Some(order_id),
        }
    }

    /// A PaymentIntent seen before its order was known: its payment joins the order now.
    fn link_payment(&mut self, tenant_id: i64, payment_intent: &str, order_id: &str) {
        for i in 0..self.payments.len() {
            let p = &self.payments[i].model;
            if p.tenant_id == tenant_id && p.payment_key == payment_intent && p.order_id.is_none() {
                self.change_payment(i, |p| p.order_id = Some(order_id.to_owned()));
            }
        }
    }

    /// Adds the event's facts to its payment (created if new) and links it to the order.
    fn record_payment(
        &mut self,
        tenant_id: i64,
        key: &str,
        facts: &EventFacts,
        order: Option<(String, i64)>,
        now: i64,
    ) {
        let existing = self.payment(tenant_id, key);
        let mut state = existing
            .map(|i| facts_of(&self.payments[i].model))
            .unwrap_or_default();
        state.apply(&facts.effect);
        let order_amount = order.as_ref().map(|(_, amount)| *amount);
        let status = state.status(order_amount).to_string();
        let amount_refunded = state.amount_refunded();
        match existing {
            Some(i) => {
                let row = &self.payments[i].model;
                let order_id = row.order_id.clone().or(order.map(|(id, _)| id));
                let unchanged = facts_of(row) == state
                    && row.order_id == order_id
                    && row.status == status
                    && (row.charge_id.is_some() || facts.charge_id.is_none())
                    && (row.payment_intent_id.is_some() || facts.payment_intent_id.is_none());
                if unchanged {
                    return;
                }
                self.change_payment(i, |row| {
                    row.order_id = order_id;
                    if row.payment_intent_id.is_none() {
                        row.payment_intent_id = facts.payment_intent_id.clone();
                    }
                    if row.charge_id.is_none() {
                        row.charge_id = facts.charge_id.clone();
                    }
                    row.amount = state.amount;
                    row.currency = state.currency.clone();
                    row.status = status;
                    row.succeeded = state.succeeded;
                    row.failed = state.failed;
                    row.charge_refunded = state.charge_refunded;
                    row.refunds = state.refunds_json();
                    row.disputes = state.disputes_json();
                    row.amount_refunded = amount_refunded;
                    row.updated_at = now;
                });
            }
            None => {
                self.payments.push(PaymentRow {
                    original: None,
                    model: payment::Model {
                        id: 0,
                        tenant_id,
                        payment_key: key.to_string(),
                        order_id: order.map(|(id, _)| id),
                        payment_intent_id: facts.payment_intent_id.clone(),
                        charge_id: facts.charge_id.clone(),
                        amount: state.amount,
                        currency: state.currency.clone(),
                        status,
                        succeeded: state.succeeded,
                        failed: state.failed,
                        charge_refunded: state.charge_refunded,
                        refunds: state.refunds_json(),
                        disputes: state.disputes_json(),
                        amount_refunded,
                        created_at: now,
                        updated_at: now,
                    },
                });
                let new = self.payments.len() - 1;
                self.move_totals(None, self.contribution(new));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stripe::event;

    fn pending_order(id: &str, tenant_id: i64, amount: i64) -> order::Model {
        order::Model {
            id: id.into(),
            tenant_id,
            amount,
            currency: "eur".into(),
            reference: None,
            status: "PAYMENT_PENDING".into(),
            checkout_session_id: None,
            payment_intent_id: None,
            expired: false,
            canceled: false,
            manual_status: None,
            manual_reason: None,
            livemode: true,
            customer_email: None,
            totals: Some(Totals::default().to_json()),
            created_at: 0,
            updated_at: 0,
        }
    }

    fn facts(kind: &str, object: serde_json::Value, livemode: bool) -> EventFacts {
        let body = serde_json::json!({"id": format!("evt_{kind}"), "object": "event", "type": kind,
            "created": 1, "livemode": livemode, "data": {"object": object}});
        event::parse(body.to_string().as_bytes()).expect("an event")
    }

    fn paid_session(order: &str, amount: i64, currency: &str) -> serde_json::Value {
        serde_json::json!({"id": "cs_1", "object": "checkout.session", "payment_status": "paid",
            "amount_total": amount, "currency": currency, "metadata": {"order_id": order},
            "payment_intent": "pi_1"})
    }

    fn rows_with(orders: Vec<order::Model>) -> Rows {
        let mut rows = Rows::default();
        rows.add_orders(orders);
        rows
    }

    #[test]
    fn a_paid_checkout_pays_its_order_and_records_the_payment() {
        let mut rows = rows_with(vec![pending_order("ord_a", 1, 2599)]);
        let mut changes = Vec::new();
        let paid = facts(
            "checkout.session.completed",
            paid_session("ord_a", 2599, "eur"),
            true,
        );
        let applied = rows.apply(1, &paid, 10, &mut changes);
        assert_eq!(applied.outcome, Outcome::Applied);
        assert_eq!(applied.order_id.as_deref(), Some("ord_a"));
        assert_eq!(rows.orders[0].model.status, "PAID");
        assert_eq!(
            rows.orders[0].model.checkout_session_id.as_deref(),
            Some("cs_1")
        );
        assert_eq!(rows.payments.len(), 1, "one payment row, new");
        assert!(rows.payments[0].original.is_none());
        assert_eq!(changes.len(), 1);
        // The same facts again change nothing.
        let again = rows.apply(1, &paid, 11, &mut changes);
        assert_eq!(again.outcome, Outcome::Unchanged);
        assert_eq!(changes.len(), 1);
    }

    #[test]
    fn too_little_money_is_a_mismatch_and_another_tenants_order_is_not_found() {
        let mut rows = rows_with(vec![pending_order("ord_a", 1, 2599)]);
        let mut changes = Vec::new();
        let short = facts(
            "checkout.session.completed",
            paid_session("ord_a", 100, "eur"),
            true,
        );
        // Delivered to tenant 2, it does not reach tenant 1's order.
        assert_eq!(
            rows.apply(2, &short, 10, &mut changes).outcome,
            Outcome::Unmatched
        );
        assert_eq!(rows.orders[0].model.status, "PAYMENT_PENDING");
        assert_eq!(
            rows.apply(1, &short, 10, &mut changes).outcome,
            Outcome::Applied
        );
        assert_eq!(rows.orders[0].model.status, "AMOUNT_MISMATCH");
    }

    #[test]
    fn unreadable_kept_totals_stop_the_group_rather_than_being_summed_from_some_payments() {
        let mut broken = pending_order("ord_a", 1, 2599);
        broken.totals = Some("{not json".into());
        let rows = rows_with(vec![broken]);
        let error = rows.check_totals().unwrap_err().to_string();
        assert!(error.contains("ord_a") && error.contains("NULL"), "{error}");
        let mut old = pending_order("ord_b", 1, 2599);
        old.totals = None;
        let rows = rows_with(vec![pending_order("ord_c", 1, 100), old]);
        assert!(rows.check_totals().is_ok(), "none kept, or readable ones");
    }

    #[test]
    fn an_event_of_the_other_mode_leaves_the_order_as_it_was() {
        let mut rows = rows_with(vec![pending_order("ord_a", 1, 2599)]);
        let mut changes = Vec::new();
        let test_mode = facts(
            "checkout.session.completed",
            paid_session("ord_a", 2599, "eur"),
            false,
        );
        assert_eq!(
            rows.apply(1, &test_mode, 10, &mut changes).outcome,
            Outcome::ModeMismatch
        );
        assert_eq!(rows.orders[0].model.status, "PAYMENT_PENDING");
        assert!(changes.is_empty());
    }
}
