//! Reading a group's rows: every order and payment its events name, read and locked
//! in one statement on PostgreSQL (one arm per kind of key on SQLite). An order's
//! other payments are read only while it keeps no running totals (see `Rows::totals`).

use super::{Item, Rows};
use crate::db::Dialect;
use crate::stripe::event::Effect;
use entity::{order, payment};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, IdenStatic,
    Iterable, QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::{BTreeSet, HashSet};

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

/// The rows, and (on PostgreSQL, when `events` is given) which of `events` are stored.
pub(super) async fn load<C: ConnectionTrait>(
    db: &C,
    items: &[Item<'_>],
    events: Option<&[(i64, &str)]>,
) -> Result<(Rows, Option<Seen>), DbErr> {
    let mut w = Wanted::default();
    let acts = |i: &&Item| i.facts.effect != Effect::Ignored && !i.facts.signed_in_other_mode();
    for item in items.iter().filter(acts) {
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
    // then payments by key, and every payment of those that keep no running totals.
    let keys = OrderKeys {
        ids: w.order_ids.iter().collect(),
        sessions: w.sessions.iter().collect(),
        intents: w.intents.iter().collect(),
    };
    let payment_keys: Vec<&(i64, String)> = w.payment_keys.iter().collect();
    let mut stored = None;
    if Dialect::of(db).arrays() {
        let found = lock_orders_and_payments(db, &keys, &payment_keys, events).await?;
        rows.add_orders(found.orders);
        rows.add_payments(found.payments);
        stored = events.map(|_| Seen {
            stored: found.stored,
            endpoint_tenants: found.endpoint_tenants,
        });
    } else {
        rows.add_orders(lock_orders(db, &keys).await?);
        let of_orders = rows.orders_without_totals();
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
        let without_totals: Vec<(i64, String)> = rows
            .orders_without_totals()
            .into_iter()
            .filter(|o| through_payment.contains(o))
            .collect();
        let payments = PaymentKeys {
            order_ids: without_totals.iter().collect(),
            ..PaymentKeys::default()
        };
        rows.add_payments(lock_payments(db, &payments).await?);
    }
    rows.check_totals()?;
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
         UNION ALL SELECT 'e', {}, {} FROM e \
         UNION ALL SELECT 'n', {}, {} FROM (SELECT DISTINCT n.tenant_id \
           FROM notification_endpoint n WHERE n.tenant_id = ANY($9::int8[])) n",
            locked("orders", ORDER_PROBES),
            locked(
                "payments",
                "SELECT x.id FROM unnest($7::int8[], $8::text[]) AS w(t, k), LATERAL ( \
               SELECT p.id FROM payments p \
               WHERE p.tenant_id = w.t AND p.payment_key = w.k OFFSET 0) x \
             UNION ALL SELECT x.id FROM o, LATERAL ( \
               SELECT p.id, p.tenant_id FROM payments p \
               WHERE p.order_id = o.id AND o.totals IS NULL OFFSET 0) x \
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
            o.iter()
                .map(|c| match c.as_str() {
                    "tenant_id" => "tenant_id AS o_tenant_id".to_string(),
                    c => format!("NULL AS o_{c}"),
                })
                .collect::<Vec<_>>()
                .join(", "),
            columns(&p, "p_", false),
        )
    })
}

/// What the group's read said besides its rows (PostgreSQL, when asked).
pub(super) struct Seen {
    /// Which of the events the tenant has stored already, as `(tenant, event id)`.
    pub stored: HashSet<(i64, String)>,
    /// Which of the events' tenants have notification endpoints.
    pub endpoint_tenants: HashSet<i64>,
}

/// What `lock_orders_and_payments` found.
#[derive(Default)]
struct Found {
    orders: Vec<order::Model>,
    payments: Vec<payment::Model>,
    stored: HashSet<(i64, String)>,
    /// Which of the events' tenants have notification endpoints.
    endpoint_tenants: HashSet<i64>,
}

/// On PostgreSQL, `lock_orders` and then `lock_payments` of the orders found, in one
/// statement: one round trip a group fewer, and the same locks in the same order (the
/// orders in id order, then the payments in id order). The same statement probes the
/// event log's unique index for each of `events` (see `webhooks::log::already_stored`),
/// and says which of their tenants have notification endpoints (the outbox needs no
/// read of its own for a group of tenants without any).
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
    let statement = Dialect::of(db).statement(sql, values);
    let mut found = Found::default();
    for row in db.query_all_raw(statement).await? {
        match row.try_get::<String>("", "kind")?.as_str() {
            "o" => found
                .orders
                .push(order::Model::from_query_result(&row, "o_")?),
            "p" => found
                .payments
                .push(payment::Model::from_query_result(&row, "p_")?),
            "e" => {
                found
                    .stored
                    .insert((row.try_get("", "o_tenant_id")?, row.try_get("", "o_id")?));
            }
            _ => {
                found
                    .endpoint_tenants
                    .insert(row.try_get("", "o_tenant_id")?);
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
    let statement = Dialect::of(db).statement(sql, values);
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
    if Dialect::of(db).arrays() {
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
    if Dialect::of(db).arrays() {
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
