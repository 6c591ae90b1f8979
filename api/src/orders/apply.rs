//! Applying a group of verified events to orders and payments with a handful of
//! set-based statements, whatever the group's size:
//!
//! 1. one read of every order the group names (by id, session or PaymentIntent),
//!    locked, and one read of every payment it names or that belongs to those orders;
//! 2. the events joined in memory one after another, in the group's order, exactly
//!    as applying them one at a time would (see `lifecycle`: facts only grow);
//! 3. one insert of the new payments, one upsert of the changed payments and one of
//!    the changed orders.
//!
//! Every read is scoped by the tenant of the event that asks, and every match in
//! memory compares the tenant too. The permutation tests apply the same events one by
//! one and as one group and expect the same rows.

use super::lifecycle::{Money, OrderStatus, PaymentFacts, order_status};
use crate::stripe::event::{Effect, EventFacts};
use entity::{order, payment};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait,
    FromQueryResult, IdenStatic, IntoActiveModel, Iterable, QueryFilter, QueryOrder, QuerySelect,
    Statement,
};
use std::collections::{BTreeSet, HashSet};

/// What applying an event did, as recorded in the event's `outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The order's status changed.
    Applied,
    /// The order was found and the facts recorded; its status stayed (e.g. a late
    /// failure for a paid order, or a duplicate success).
    Unchanged,
    /// No order matched; payment facts are kept and count once an order is linked.
    Unmatched,
    /// An event type the gateway does not act on.
    Ignored,
    /// A test event about a live order, or a live event about a test order: the order
    /// is left as it was.
    ModeMismatch,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Unchanged => "unchanged",
            Self::Unmatched => "unmatched",
            Self::Ignored => "ignored",
            Self::ModeMismatch => "mode_mismatch",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub outcome: Outcome,
    pub order_id: Option<String>,
}

/// What a payment row knows, as the lifecycle reads it.
pub fn facts_of(row: &payment::Model) -> PaymentFacts {
    PaymentFacts {
        succeeded: row.succeeded,
        failed: row.failed,
        amount: row.amount,
        currency: row.currency.clone(),
        charge_refunded: row.charge_refunded,
        refunds: PaymentFacts::refunds_from_json(&row.refunds),
    }
}

/// One event of a group, with the tenant it was delivered to.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    pub tenant_id: i64,
    pub facts: &'a EventFacts,
}

/// What applying a group did.
#[derive(Debug, Default)]
pub struct GroupApplied {
    /// One for each item, in the same order.
    pub applied: Vec<Applied>,
    /// Every status change, with the order as it was right after it: what the
    /// restaurant's backend is told, in the order it happened.
    pub changes: Vec<order::Model>,
}

/// Applies the items in their order. Call inside a transaction.
pub async fn apply_group<C: ConnectionTrait>(
    db: &C,
    items: &[Item<'_>],
    now: i64,
) -> Result<GroupApplied, DbErr> {
    let read = read_group(db, items, false).await?;
    apply_read(db, read, items, now).await
}

/// The rows a group may touch, read and locked (see `read_group`).
pub struct GroupRead {
    rows: Rows,
    /// Which of the group's events the tenant has stored already, as `(tenant, event
    /// id)`: read in the same statement on PostgreSQL when asked; `None` otherwise.
    pub stored: Option<HashSet<(i64, String)>>,
}

/// Reads and locks every order and payment the items name. Asked with `stored`, on
/// PostgreSQL the same statement also says which of the items' events are stored
/// already: the caller can then apply only the new ones (`apply_read`), one round trip
/// a group fewer than reading that first.
pub async fn read_group<C: ConnectionTrait>(
    db: &C,
    items: &[Item<'_>],
    stored: bool,
) -> Result<GroupRead, DbErr> {
    let events: Vec<(i64, &str)> = match stored {
        true => items
            .iter()
            .map(|i| (i.tenant_id, i.facts.event_id.as_str()))
            .collect(),
        false => Vec::new(),
    };
    let (rows, stored) = load(db, items, stored.then_some(&events[..])).await?;
    Ok(GroupRead { rows, stored })
}

/// Applies the items in their order to the rows read (by `read_group`, for these items
/// or more) and writes what changed.
pub async fn apply_read<C: ConnectionTrait>(
    db: &C,
    read: GroupRead,
    items: &[Item<'_>],
    now: i64,
) -> Result<GroupApplied, DbErr> {
    let mut rows = read.rows;
    let mut out = GroupApplied::default();
    for item in items {
        let applied = rows.apply(item.tenant_id, item.facts, now, &mut out.changes);
        out.applied.push(applied);
    }
    rows.write(db).await?;
    Ok(out)
}

/// The ids the group's events name, each with the tenant of the event that names it.
#[derive(Default)]
struct Wanted {
    order_ids: BTreeSet<(i64, String)>,
    sessions: BTreeSet<(i64, String)>,
    intents: BTreeSet<(i64, String)>,
    payment_keys: BTreeSet<(i64, String)>,
}

/// Orders to read and lock: by id, by Checkout Session, by PaymentIntent.
#[derive(Default)]
struct OrderKeys<'a> {
    ids: Vec<&'a (i64, String)>,
    sessions: Vec<&'a (i64, String)>,
    intents: Vec<&'a (i64, String)>,
}

/// Payments to read and lock: by payment key, by order.
#[derive(Default)]
struct PaymentKeys<'a> {
    keys: Vec<&'a (i64, String)>,
    order_ids: Vec<&'a (i64, String)>,
}

struct OrderRow {
    model: order::Model,
    original: order::Model,
}

struct PaymentRow {
    model: payment::Model,
    /// `None` for a payment this group creates.
    original: Option<payment::Model>,
}

/// The rows the group may touch, as they are now in memory.
#[derive(Default)]
struct Rows {
    orders: Vec<OrderRow>,
    payments: Vec<PaymentRow>,
}

/// The rows, and (on PostgreSQL, when `events` is given) which of `events` are stored.
async fn load<C: ConnectionTrait>(
    db: &C,
    items: &[Item<'_>],
    events: Option<&[(i64, &str)]>,
) -> Result<(Rows, Option<HashSet<(i64, String)>>), DbErr> {
    let mut w = Wanted::default();
    for item in items.iter().filter(|i| i.facts.effect != Effect::Ignored) {
        let (t, facts) = (item.tenant_id, item.facts);
        let pair = |id: &String| (t, id.clone());
        w.order_ids.extend(facts.order_refs.iter().map(pair));
        w.sessions
            .extend(facts.checkout_session_id.iter().map(pair));
        w.intents.extend(facts.payment_intent_id.iter().map(pair));
        // The PaymentIntent too: its payment may join the order (see `apply`).
        w.payment_keys
            .extend(facts.payment_intent_id.iter().map(pair));
        w.payment_keys
            .extend(facts.payment_key().map(|key| (t, key.to_owned())));
    }
    let mut rows = Rows::default();

    // Orders by id, session or PaymentIntent, in id order (so replicas lock alike);
    // then payments by key, and every payment of those orders.
    let keys = OrderKeys {
        ids: w.order_ids.iter().collect(),
        sessions: w.sessions.iter().collect(),
        intents: w.intents.iter().collect(),
    };
    let payment_keys: Vec<&(i64, String)> = w.payment_keys.iter().collect();
    let mut stored = None;
    if db.get_database_backend() == DbBackend::Postgres {
        let found = lock_orders_and_payments(db, &keys, &payment_keys, events).await?;
        rows.add_orders(found.orders);
        rows.add_payments(found.payments);
        stored = events.map(|_| found.stored);
    } else {
        rows.add_orders(lock_orders(db, &keys).await?);
        let of_orders: Vec<(i64, String)> = rows
            .orders
            .iter()
            .map(|o| (o.model.tenant_id, o.model.id.clone()))
            .collect();
        let keys = PaymentKeys {
            keys: payment_keys,
            order_ids: of_orders.iter().collect(),
        };
        rows.add_payments(lock_payments(db, &keys).await?);
    }

    // An event that names only its payment finds the order through it: those orders,
    // and their other payments, are read too.
    let through_payment: BTreeSet<(i64, String)> = rows
        .payments
        .iter()
        .filter_map(|p| {
            let order_id = p.model.order_id.as_ref()?;
            rows.order(p.model.tenant_id, order_id)
                .is_none()
                .then(|| (p.model.tenant_id, order_id.clone()))
        })
        .collect();
    if !through_payment.is_empty() {
        let ids: Vec<&(i64, String)> = through_payment.iter().collect();
        let orders = OrderKeys {
            ids: ids.clone(),
            ..OrderKeys::default()
        };
        rows.add_orders(lock_orders(db, &orders).await?);
        let payments = PaymentKeys {
            order_ids: ids,
            ..PaymentKeys::default()
        };
        rows.add_payments(lock_payments(db, &payments).await?);
    }
    Ok((rows, stored))
}

/// The rows of `table` whose ids `ids` selects, each once, read and locked in id order.
/// Each is one probe of the primary key (a `LATERAL` subquery behind `OFFSET 0`): with
/// `id = ANY(…)`, a plan cached while the table was small (the payments of a fresh
/// database) read it by a sequential scan, and kept doing so as it grew — at 50,000
/// payments 3.8 ms a group instead of 0.5.
///
/// Likewise the payments of an order are probed by the order alone, their tenant
/// compared outside the `OFFSET 0`: with both inside, such a plan ANDed the order's
/// index with every payment of the tenant, 633 buffers a group at 20 tenants × 2,000
/// payments.
fn locked(table: &str, ids: &str) -> String {
    format!(
        "SELECT l.* FROM (SELECT DISTINCT id FROM ({ids}) AS ids(id) ORDER BY id) AS i, \
         LATERAL (SELECT * FROM {table} r WHERE r.id = i.id OFFSET 0 FOR UPDATE) l"
    )
}

/// The probes of the orders a group names, by id, session and PaymentIntent: one
/// `LATERAL` probe of its index per `(tenant, key)` pair (see `lock_orders`). Each
/// probes by the key alone, the tenant compared outside the `OFFSET 0`: every index of
/// a key leads with it, so no plan can probe an index by the tenant alone (one of the
/// tenant's indexes costs as much as the key's on an empty table, and a generic plan
/// made then is kept; see migration `m20261202_000013_key_first_indexes`).
const ORDER_PROBES: &str = "SELECT x.id FROM unnest($1::int8[], $2::text[]) AS w(t, k), LATERAL ( \
       SELECT o.id, o.tenant_id FROM orders o WHERE o.id = w.k OFFSET 0) x \
     WHERE x.tenant_id = w.t \
     UNION ALL SELECT x.id FROM unnest($3::int8[], $4::text[]) AS w(t, k), LATERAL ( \
       SELECT o.id, o.tenant_id FROM orders o WHERE o.checkout_session_id = w.k OFFSET 0) x \
     WHERE x.tenant_id = w.t \
     UNION ALL SELECT x.id FROM unnest($5::int8[], $6::text[]) AS w(t, k), LATERAL ( \
       SELECT o.id, o.tenant_id FROM orders o WHERE o.payment_intent_id = w.k OFFSET 0) x \
     WHERE x.tenant_id = w.t";

/// The statement of `lock_orders_and_payments`, made once from the entities' columns.
fn group_read_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let columns = |names: &[String], prefix: &str, own: bool| -> String {
            names
                .iter()
                .map(|c| match own {
                    true => format!("{c} AS {prefix}{c}"),
                    false => format!("NULL AS {prefix}{c}"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let o: Vec<String> = order::Column::iter()
            .map(|c| c.as_str().to_owned())
            .collect();
        let p: Vec<String> = payment::Column::iter()
            .map(|c| c.as_str().to_owned())
            .collect();
        format!(
            "WITH o AS ({}), \
         p AS ({}), \
         e AS (SELECT x.tenant_id, x.dedup_key FROM unnest($9::int8[], $10::text[]) AS w(t, k), \
           LATERAL (SELECT e.tenant_id, e.dedup_key FROM webhook_event e \
             WHERE e.dedup_key = w.k OFFSET 0) x WHERE x.tenant_id = w.t) \
         SELECT 'o' AS kind, {}, {} FROM o \
         UNION ALL SELECT 'p', {}, {} FROM p \
         UNION ALL SELECT 'e', {}, {} FROM e",
            locked("orders", ORDER_PROBES),
            locked(
                "payments",
                "SELECT x.id FROM unnest($7::int8[], $8::text[]) AS w(t, k), LATERAL ( \
               SELECT p.id FROM payments p \
               WHERE p.tenant_id = w.t AND p.payment_key = w.k OFFSET 0) x \
             UNION ALL SELECT x.id FROM o, LATERAL ( \
               SELECT p.id, p.tenant_id FROM payments p WHERE p.order_id = o.id OFFSET 0) x \
             WHERE x.tenant_id = o.tenant_id",
            ),
            columns(&o, "o_", true),
            columns(&p, "p_", false),
            columns(&o, "o_", false),
            columns(&p, "p_", true),
            o.iter()
                .map(|c| match c.as_str() {
                    "id" => "dedup_key AS o_id".to_string(),
                    "tenant_id" => "tenant_id AS o_tenant_id".to_string(),
                    c => format!("NULL AS o_{c}"),
                })
                .collect::<Vec<_>>()
                .join(", "),
            columns(&p, "p_", false),
        )
    })
}

/// What `lock_orders_and_payments` found.
#[derive(Default)]
struct Found {
    orders: Vec<order::Model>,
    payments: Vec<payment::Model>,
    stored: HashSet<(i64, String)>,
}

/// On PostgreSQL, `lock_orders` and then `lock_payments` of the orders found, in one
/// statement: one round trip a group fewer, and the same locks in the same order (the
/// orders in id order, then the payments in id order). The same statement probes the
/// event log's unique index for each of `events` (see `webhooks::log::already_stored`).
/// Each row comes back as the columns of one table, prefixed `o_` or `p_`, beside
/// `kind` (a stored event as `o_tenant_id` and `o_id`, its event id); the column lists
/// follow the entities, so the statement's text is made once and never changes.
async fn lock_orders_and_payments<C: ConnectionTrait>(
    db: &C,
    orders: &OrderKeys<'_>,
    payment_keys: &[&(i64, String)],
    events: Option<&[(i64, &str)]>,
) -> Result<Found, DbErr> {
    let events = events.unwrap_or_default();
    if orders.ids.is_empty()
        && orders.sessions.is_empty()
        && orders.intents.is_empty()
        && payment_keys.is_empty()
        && events.is_empty()
    {
        return Ok(Found::default());
    }
    let sql = group_read_sql();
    let kinds = [&orders.ids, &orders.sessions, &orders.intents];
    let values = kinds
        .iter()
        .map(|pairs| pairs.as_slice())
        .chain([payment_keys])
        .flat_map(|pairs| crate::db::pair_arrays(pairs.iter().map(|(t, k)| (*t, k.as_str()))))
        .chain(crate::db::pair_arrays(events.iter().copied()));
    let statement = Statement::from_sql_and_values(DbBackend::Postgres, sql, values);
    let mut found = Found::default();
    for row in db.query_all_raw(statement).await? {
        match row.try_get::<String>("", "kind")?.as_str() {
            "o" => found
                .orders
                .push(order::Model::from_query_result(&row, "o_")?),
            "p" => found
                .payments
                .push(payment::Model::from_query_result(&row, "p_")?),
            _ => {
                found
                    .stored
                    .insert((row.try_get("", "o_tenant_id")?, row.try_get("", "o_id")?));
            }
        }
    }
    Ok(found)
}

/// Runs one of the fixed PostgreSQL reads below: each kind of key goes in as two array
/// parameters (see `db::pair_arrays`), in the order of the statement's `unnest`s.
async fn fixed_read<E: EntityTrait, C: ConnectionTrait>(
    db: &C,
    sql: &str,
    kinds: &[&Vec<&(i64, String)>],
) -> Result<Vec<E::Model>, DbErr> {
    let values = kinds
        .iter()
        .flat_map(|pairs| crate::db::pair_arrays(pairs.iter().map(|(t, k)| (*t, k.as_str()))));
    let statement = Statement::from_sql_and_values(DbBackend::Postgres, sql, values);
    E::find().from_raw_sql(statement).all(db).await
}

/// On SQLite: one arm per kind of key, each with its own tenants, so that each arm is
/// one index's range; rows from another tenant's key are dropped in memory.
fn any_of<'a, Col: ColumnTrait>(
    arms: impl IntoIterator<Item = (Col, Col, &'a [&'a (i64, String)])>,
) -> Condition {
    let mut any = Condition::any();
    for (tenant, column, pairs) in arms {
        if pairs.is_empty() {
            continue;
        }
        let tenants: BTreeSet<i64> = pairs.iter().map(|(t, _)| *t).collect();
        let keys: BTreeSet<&str> = pairs.iter().map(|(_, k)| k.as_str()).collect();
        any = any.add(
            Condition::all()
                .add(tenant.is_in(tenants))
                .add(column.is_in(keys)),
        );
    }
    any
}

fn lock_orders_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| locked("orders", ORDER_PROBES))
}

fn lock_payments_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        locked(
            "payments",
            "SELECT x.id FROM unnest($1::int8[], $2::text[]) AS w(t, k), LATERAL ( \
               SELECT p.id FROM payments p \
               WHERE p.tenant_id = w.t AND p.payment_key = w.k OFFSET 0) x \
             UNION ALL SELECT x.id FROM unnest($3::int8[], $4::text[]) AS w(t, k), LATERAL ( \
               SELECT p.id, p.tenant_id FROM payments p WHERE p.order_id = w.k OFFSET 0) x \
             WHERE x.tenant_id = w.t",
        )
    })
}

/// The PostgreSQL reads of a group's rows, by name, for the test that their generic
/// plans on a fresh database probe indexes (`api/tests/plans.rs`).
#[doc(hidden)]
pub fn postgres_reads() -> [(&'static str, &'static str); 3] {
    [
        ("the group's read", group_read_sql()),
        ("lock_orders", lock_orders_sql()),
        ("lock_payments", lock_payments_sql()),
    ]
}

/// Reads and locks the orders, in id order.
///
/// On PostgreSQL one statement whose text never changes, so it is parsed once per
/// connection (and planned once, when PostgreSQL settles on a generic plan): each
/// `(tenant, key)` pair is one probe of its own index. The shape keeps that whatever
/// the statistics said when a cached plan was made (a fresh table looks tiny): each probe is a
/// `LATERAL` subquery behind `OFFSET 0`, so it cannot become a hash join over a scan of
/// the table, and the rows are then locked through the primary key (`locked`).
/// (An `OR` of `tenant IN (…) AND key IN (…)` arms made PostgreSQL factor the tenants
/// out and read every order of the group's tenants: 38 ms a read at 20 tenants × 5,000
/// orders.)
async fn lock_orders<C: ConnectionTrait>(
    db: &C,
    keys: &OrderKeys<'_>,
) -> Result<Vec<order::Model>, DbErr> {
    if keys.ids.is_empty() && keys.sessions.is_empty() && keys.intents.is_empty() {
        return Ok(Vec::new());
    }
    if db.get_database_backend() == DbBackend::Postgres {
        let sql = lock_orders_sql();
        let kinds = [&keys.ids, &keys.sessions, &keys.intents];
        return fixed_read::<order::Entity, _>(db, sql, &kinds).await;
    }
    use order::Column as O;
    let condition = any_of([
        (O::TenantId, O::Id, keys.ids.as_slice()),
        (O::TenantId, O::CheckoutSessionId, keys.sessions.as_slice()),
        (O::TenantId, O::PaymentIntentId, keys.intents.as_slice()),
    ]);
    order::Entity::find()
        .filter(condition)
        .order_by_asc(O::Id)
        .lock_exclusive()
        .all(db)
        .await
}

/// Reads and locks the payments, in id order (see `lock_orders`).
async fn lock_payments<C: ConnectionTrait>(
    db: &C,
    keys: &PaymentKeys<'_>,
) -> Result<Vec<payment::Model>, DbErr> {
    if keys.keys.is_empty() && keys.order_ids.is_empty() {
        return Ok(Vec::new());
    }
    if db.get_database_backend() == DbBackend::Postgres {
        let sql = lock_payments_sql();
        let kinds = [&keys.keys, &keys.order_ids];
        return fixed_read::<payment::Entity, _>(db, sql, &kinds).await;
    }
    use payment::Column as P;
    let condition = any_of([
        (P::TenantId, P::PaymentKey, keys.keys.as_slice()),
        (P::TenantId, P::OrderId, keys.order_ids.as_slice()),
    ]);
    payment::Entity::find()
        .filter(condition)
        .order_by_asc(P::Id)
        .lock_exclusive()
        .all(db)
        .await
}

impl Rows {
    fn add_orders(&mut self, found: Vec<order::Model>) {
        for model in found {
            if self.order(model.tenant_id, &model.id).is_none() {
                self.orders.push(OrderRow {
                    original: model.clone(),
                    model,
                });
            }
        }
    }

    fn add_payments(&mut self, found: Vec<payment::Model>) {
        for model in found {
            if !self.payments.iter().any(|p| p.model.id == model.id) {
                self.payments.push(PaymentRow {
                    original: Some(model.clone()),
                    model,
                });
            }
        }
    }

    fn order(&self, tenant_id: i64, id: &str) -> Option<usize> {
        self.orders
            .iter()
            .position(|o| o.model.tenant_id == tenant_id && o.model.id == id)
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
    fn apply(
        &mut self,
        tenant_id: i64,
        facts: &EventFacts,
        now: i64,
        changes: &mut Vec<order::Model>,
    ) -> Applied {
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

        // A PaymentIntent seen before its order was known: its payment joins the order now.
        if let Some(pi) = &facts.payment_intent_id {
            for p in &mut self.payments {
                let p = &mut p.model;
                if p.tenant_id == tenant_id && p.payment_key == *pi && p.order_id.is_none() {
                    p.order_id = Some(order_id.clone());
                }
            }
        }
        let payments: Vec<PaymentFacts> = self
            .payments
            .iter()
            .filter(|p| {
                p.model.tenant_id == tenant_id && p.model.order_id.as_deref() == Some(&order_id)
            })
            .map(|p| facts_of(&p.model))
            .collect();
        let order = &mut self.orders[i].model;
        let expired = order.expired || facts.effect == Effect::Expired;
        let money = Money {
            amount: order.amount,
            currency: &order.currency,
        };
        let mut status = order_status(money, expired, &payments);
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
        order.expired = expired;
        if status_changed {
            order.status = status.as_str().to_string();
            order.updated_at = now;
            changes.push(order.clone());
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
                let row = &mut self.payments[i].model;
                let order_id = row.order_id.clone().or(order.map(|(id, _)| id));
                let unchanged = facts_of(row) == state
                    && row.order_id == order_id
                    && row.status == status
                    && (row.charge_id.is_some() || facts.charge_id.is_none())
                    && (row.payment_intent_id.is_some() || facts.payment_intent_id.is_none());
                if unchanged {
                    return;
                }
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
                row.amount_refunded = amount_refunded;
                row.updated_at = now;
            }
            None => self.payments.push(PaymentRow {
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
                    amount_refunded,
                    created_at: now,
                    updated_at: now,
                },
            }),
        }
    }

    /// Writes what changed: new payments in one insert (a payment another writer
    /// created meanwhile makes it fail, and the group is applied again: see
    /// `inbox::store_group`), changed payments and orders in one statement each
    /// (their rows are locked by this transaction, so the statement only updates).
    async fn write<C: ConnectionTrait>(self, db: &C) -> Result<(), DbErr> {
        let mut new_payments = Vec::new();
        let mut changed_payments = Vec::new();
        for p in self.payments {
            match &p.original {
                None => new_payments.push(p.model),
                Some(original) if *original != p.model => changed_payments.push(p.model),
                Some(_) => {}
            }
        }
        let changed_orders: Vec<order::Model> = self
            .orders
            .into_iter()
            .filter(|o| o.model != o.original)
            .map(|o| o.model)
            .collect();
        if db.get_database_backend() == DbBackend::Postgres {
            return write_fixed(db, &new_payments, &changed_payments, &changed_orders).await;
        }
        if !new_payments.is_empty() {
            let rows = new_payments.into_iter().map(|model| {
                let mut row = model.into_active_model().reset_all();
                row.id = sea_orm::ActiveValue::NotSet;
                row
            });
            payment::Entity::insert_many(rows)
                .exec_without_returning(db)
                .await?;
        }
        if !changed_payments.is_empty() {
            let rows = changed_payments
                .into_iter()
                .map(|model| model.into_active_model().reset_all());
            payment::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::column(payment::Column::Id)
                        .update_columns(PAYMENT_UPDATES)
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await?;
        }
        if !changed_orders.is_empty() {
            let rows = changed_orders
                .into_iter()
                .map(|model| model.into_active_model().reset_all());
            order::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::column(order::Column::Id)
                        .update_columns(ORDER_UPDATES)
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await?;
        }
        Ok(())
    }
}

/// What applying changes in an order's row (the rest is the admin's or the creator's).
const ORDER_UPDATES: [order::Column; 5] = [
    order::Column::Status,
    order::Column::Expired,
    order::Column::CheckoutSessionId,
    order::Column::PaymentIntentId,
    order::Column::UpdatedAt,
];

/// What applying changes in a payment's row.
const PAYMENT_UPDATES: [payment::Column; 12] = [
    payment::Column::OrderId,
    payment::Column::PaymentIntentId,
    payment::Column::ChargeId,
    payment::Column::Amount,
    payment::Column::Currency,
    payment::Column::Status,
    payment::Column::Succeeded,
    payment::Column::Failed,
    payment::Column::ChargeRefunded,
    payment::Column::Refunds,
    payment::Column::AmountRefunded,
    payment::Column::UpdatedAt,
];

/// The writes of `Rows::write` on PostgreSQL, in one statement whose text never
/// changes (parsed once per connection, not once per group size): new payments are
/// inserted, changed payments and orders (whose rows this transaction has locked)
/// updated with one `UPDATE … FROM` each, matched by id and tenant, the rows in one
/// JSON parameter each (`[]` for none). Each is a data-modifying `WITH` of the same
/// statement, so a group that writes pays one round trip instead of three; they touch
/// different rows (a new payment is not among the changed ones), so that they do not
/// see each other's changes does not matter. The column lists follow the entities.
///
/// The updates name their rows' ids a second time, as an array: `t.id = ANY(…)` is a
/// probe of the primary key per row. Joined to the JSON rows alone, PostgreSQL
/// estimates them at a hundred and reads the whole table into a hash join instead
/// (a sequential scan of every payment for each group: 1.4 ms a group at 4,000
/// payments, and growing with the table).
async fn write_fixed<C: ConnectionTrait>(
    db: &C,
    new_payments: &[payment::Model],
    changed_payments: &[payment::Model],
    changed_orders: &[order::Model],
) -> Result<(), DbErr> {
    if new_payments.is_empty() && changed_payments.is_empty() && changed_orders.is_empty() {
        return Ok(());
    }
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        let set = |columns: &[&str]| -> String {
            columns
                .iter()
                .map(|c| format!("{c} = r.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let inserted: Vec<&str> = payment::Column::iter()
            .map(|c| c.as_str())
            .filter(|c| *c != payment::Column::Id.as_str())
            .collect();
        let inserted = inserted.join(", ");
        let payment_updates: Vec<&str> = PAYMENT_UPDATES.iter().map(|c| c.as_str()).collect();
        let order_updates: Vec<&str> = ORDER_UPDATES.iter().map(|c| c.as_str()).collect();
        format!(
            "WITH new_payments AS (INSERT INTO payments ({inserted}) SELECT {inserted} \
               FROM json_populate_recordset(NULL::payments, $1::json) RETURNING 1), \
             changed_payments AS (UPDATE payments AS t SET {} \
               FROM json_populate_recordset(NULL::payments, $2::json) AS r \
               WHERE t.id = ANY($3::int8[]) AND t.id = r.id AND t.tenant_id = r.tenant_id \
               RETURNING 1), \
             changed_orders AS (UPDATE orders AS t SET {} \
               FROM json_populate_recordset(NULL::orders, $4::json) AS r \
               WHERE t.id = ANY($5::text[]) AND t.id = r.id AND t.tenant_id = r.tenant_id \
               RETURNING 1) \
             SELECT (SELECT count(*) FROM new_payments) AS new_payments, \
               (SELECT count(*) FROM changed_payments) AS changed_payments, \
               (SELECT count(*) FROM changed_orders) AS changed_orders",
            set(&payment_updates),
            set(&order_updates)
        )
    });
    fn json<M: serde::Serialize>(rows: &[M]) -> Result<sea_orm::Value, DbErr> {
        serde_json::to_string(rows)
            .map(Into::into)
            .map_err(|e| DbErr::Custom(format!("rows as JSON: {e}")))
    }
    let payment_ids: Vec<i64> = changed_payments.iter().map(|p| p.id).collect();
    let order_ids: Vec<String> = changed_orders.iter().map(|o| o.id.clone()).collect();
    let values = [
        json(new_payments)?,
        json(changed_payments)?,
        payment_ids.into(),
        json(changed_orders)?,
        order_ids.into(),
    ];
    let statement = Statement::from_sql_and_values(DbBackend::Postgres, sql, values);
    let row = db
        .query_one_raw(statement)
        .await?
        .ok_or_else(|| DbErr::Custom("the group's writes returned no row".into()))?;
    for (column, expected) in [
        ("new_payments", new_payments.len()),
        ("changed_payments", changed_payments.len()),
        ("changed_orders", changed_orders.len()),
    ] {
        let wrote: i64 = row.try_get("", column)?;
        if wrote != expected as i64 {
            // Every row updated is locked by this transaction: a miss is a bug, and
            // the group is rolled back rather than half written.
            return Err(DbErr::Custom(format!(
                "{column}: wrote {wrote} of {expected} rows"
            )));
        }
    }
    Ok(())
}
