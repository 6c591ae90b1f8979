//! Every one of the 5040 delivery orders of a realistic event set, applied by the real
//! `orders::store::apply` to a real database, ends in the same order and payment state.
//! Each test runs on SQLite (in memory) and on PostgreSQL (a fresh database on the
//! server `TEST_POSTGRES_URL` names, which `scripts/test.sh` starts): the two backends
//! read and lock the group's rows with different statements.

mod common;

use entity::{order, payment};
use gateway::orders::apply::facts_of;
use gateway::orders::lifecycle::Totals;
use gateway::orders::store;
use gateway::stripe::event::{self, EventFacts};
use gateway::tenants::audit::Actor;
use gateway::tenants::{self, TenantSlug};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::{Value, json};

fn fixture(resource: &str) -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/stripe/fixtures3.json"
    );
    let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    all["resources"][resource].clone()
}

fn facts(kind: &str, object: Value) -> EventFacts {
    let body = json!({"id": format!("evt_{kind}"), "object": "event", "type": kind, "livemode": true, "data": {"object": object}});
    event::parse(&serde_json::to_vec(&body).unwrap()).unwrap()
}

/// The seven events of one Checkout payment, then a partial and a full refund.
fn events(order_id: &str, n: usize) -> Vec<EventFacts> {
    let (cs, pi, ch) = (format!("cs_{n}"), format!("pi_{n}"), format!("ch_{n}"));
    let mut session = fixture("checkout.session");
    session["id"] = json!(cs);
    session["metadata"] = json!({"order_id": order_id});
    session["payment_intent"] = json!(pi);
    session["amount_total"] = json!(2599);
    session["currency"] = json!("eur");
    let mut paid = session.clone();
    paid["payment_status"] = json!("paid");
    let mut expired = session.clone();
    expired["status"] = json!("expired");
    let mut intent = fixture("payment_intent");
    intent["id"] = json!(pi);
    intent["amount"] = json!(2599);
    intent["amount_received"] = json!(2599);
    intent["currency"] = json!("eur");
    let mut charge = fixture("charge");
    charge["id"] = json!(ch);
    charge["payment_intent"] = json!(pi);
    charge["amount"] = json!(2599);
    charge["currency"] = json!("eur");
    let mut partial = charge.clone();
    partial["amount_refunded"] = json!(1000);
    let mut full = charge.clone();
    full["amount_refunded"] = json!(2599);
    vec![
        facts("checkout.session.completed", paid),
        facts("payment_intent.succeeded", intent.clone()),
        facts("charge.succeeded", charge),
        facts("payment_intent.payment_failed", intent),
        facts("checkout.session.expired", expired),
        facts("charge.refunded", partial),
        facts("charge.refunded", full),
    ]
}

type State = (
    String,
    bool,
    bool,
    bool,
    bool,
    String,
    Option<i64>,
    Option<String>,
    bool,
    bool,
    i64,
    // The payment's disputes, and the order's running totals.
    (String, Option<String>),
);

/// The tenant's payments that match `condition`.
async fn payments_where<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    condition: sea_orm::sea_query::SimpleExpr,
) -> Vec<payment::Model> {
    payment::Entity::find()
        .filter(payment::Column::TenantId.eq(tenant_id))
        .filter(condition)
        .all(db)
        .await
        .unwrap()
}

async fn state_of<C: ConnectionTrait>(db: &C, tenant_id: i64, order_id: &str, key: &str) -> State {
    let order = order::Entity::find_by_id(order_id.to_string())
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let payments = payments_where(db, tenant_id, payment::Column::PaymentKey.eq(key)).await;
    assert_eq!(payments.len(), 1);
    let p = &payments[0];
    // The order's running totals are what its payments sum to, however they came.
    let of_order = payments_where(db, tenant_id, payment::Column::OrderId.eq(order_id)).await;
    let facts: Vec<_> = of_order.iter().map(facts_of).collect();
    assert_eq!(
        Totals::from_json(order.totals.as_deref()),
        Some(Totals::of_payments(&order.currency, &facts)),
        "the order's kept totals"
    );
    (
        order.status.clone(),
        order.expired,
        order.checkout_session_id.is_some(),
        order.payment_intent_id.is_some(),
        p.order_id == Some(order.id.clone()),
        p.status.clone(),
        p.amount,
        p.currency.clone(),
        p.succeeded,
        p.failed,
        p.amount_refunded,
        (p.disputes.clone(), order.totals.clone()),
    )
}

/// Depth-first over the tree of delivery orders: each event is applied inside a
/// savepoint, so a shared prefix is applied once and rolled back for the next branch.
/// Every leaf is one complete permutation, applied in its order.
fn explore<'a>(
    txn: &'a sea_orm::DatabaseTransaction,
    tenant_id: i64,
    order_id: &'a str,
    key: &'a str,
    events: &'a [EventFacts],
    path: &'a mut Vec<usize>,
    leaves: &'a mut Vec<(Vec<usize>, State)>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>> {
    Box::pin(async move {
        if path.len() == events.len() {
            leaves.push((path.clone(), state_of(txn, tenant_id, order_id, key).await));
            return;
        }
        for i in 0..events.len() {
            if path.contains(&i) {
                continue;
            }
            let savepoint = txn.begin().await.unwrap();
            store::apply(&savepoint, tenant_id, &events[i], 2)
                .await
                .unwrap();
            path.push(i);
            explore(&savepoint, tenant_id, order_id, key, events, path, leaves).await;
            path.pop();
            savepoint.rollback().await.unwrap();
        }
    })
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Each test, once on each backend: `name::sqlite` and `name::postgres`.
macro_rules! on_both {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$body(super::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$body(super::Backend::Postgres).await
            }
        }
    };
}

/// An empty, migrated database: in memory on SQLite, made for this test on PostgreSQL.
async fn fresh_database(backend: Backend) -> sea_orm::DatabaseConnection {
    let url = match backend {
        Backend::Sqlite => "sqlite::memory:".to_string(),
        Backend::Postgres => common::new_postgres_database("perm").await,
    };
    let db = gateway::db::connect_url(&url, 1).await.unwrap();
    gateway::db::migrate(&db).await.unwrap();
    db
}

/// A fresh database with one tenant and one live 25.99 EUR order.
async fn one_order(
    backend: Backend,
    slug: &str,
) -> (
    sea_orm::DatabaseConnection,
    entity::tenant::Model,
    order::Model,
) {
    let db = fresh_database(backend).await;
    let tenant = tenants::create(
        &db,
        &TenantSlug::parse(slug).unwrap(),
        "Perm",
        &Actor::cli(),
    )
    .await
    .unwrap();
    let order = store::create(&db, tenant.id, 2599, "eur", None, true, 1)
        .await
        .unwrap();
    (db, tenant, order)
}

/// Applies `events` in every order (each on a rolled-back savepoint), checks that
/// there are `n` orders and that all reach the same state, and returns that state.
async fn every_order_agrees(
    db: &sea_orm::DatabaseConnection,
    tenant_id: i64,
    order_id: &str,
    events: &[EventFacts],
    n: usize,
) -> State {
    let txn = db.begin().await.unwrap();
    let mut leaves = Vec::new();
    explore(
        &txn,
        tenant_id,
        order_id,
        "pi_0",
        events,
        &mut Vec::new(),
        &mut leaves,
    )
    .await;
    txn.rollback().await.unwrap();
    assert_eq!(
        leaves.len(),
        n,
        "every permutation of {} events",
        events.len()
    );
    let expected = leaves[0].1.clone();
    for (delivery_order, state) in &leaves {
        assert_eq!(state, &expected, "delivery order {delivery_order:?}");
    }
    expected
}

on_both!(
    every_delivery_order_reaches_the_same_order_and_payment_state,
    every_delivery_order
);
async fn every_delivery_order(backend: Backend) {
    let (db, tenant, order) = one_order(backend, "perm-test").await;
    let events = events(&order.id, 0);
    let expected = every_order_agrees(&db, tenant.id, &order.id, &events, 5040).await;
    let (status, .., payment_status, amount, currency, _, _, refunded, _) = expected;
    assert_eq!(status, "REFUNDED");
    assert_eq!(payment_status, "refunded");
    assert_eq!(
        (amount, currency.as_deref(), refunded),
        (Some(2599), Some("eur"), 2599)
    );
}

/// A paid order partially refunded, then disputed: the dispute opened, moved under
/// review and closed (`closed`: won or lost).
fn dispute_events(order_id: &str, closed: &str) -> Vec<EventFacts> {
    let all = events(order_id, 0);
    let mut dispute = fixture("dispute");
    dispute["id"] = json!("dp_0");
    dispute["charge"] = json!("ch_0");
    dispute["payment_intent"] = json!("pi_0");
    dispute["amount"] = json!(1599);
    dispute["currency"] = json!("eur");
    dispute["reason"] = json!("fraudulent");
    let at = |status: &str| {
        let mut d = dispute.clone();
        d["status"] = json!(status);
        d
    };
    vec![
        all[0].clone(),
        all[5].clone(),
        facts("charge.dispute.created", at("needs_response")),
        facts("charge.dispute.updated", at("under_review")),
        facts("charge.dispute.closed", at(closed)),
    ]
}

on_both!(
    payment_refund_and_dispute_in_every_order_reach_the_same_end,
    disputes_in_every_order
);
/// CONTRACT §11: any order of arrival gives the same end; won returns a partially
/// refunded order to `PARTIALLY_REFUNDED`, lost makes it `DISPUTE_LOST`.
async fn disputes_in_every_order(backend: Backend) {
    let (db, tenant, order) = one_order(backend, "perm-disputes").await;
    for (closed, end, payment_status) in [
        ("won", "PARTIALLY_REFUNDED", "partially_refunded"),
        ("lost", "DISPUTE_LOST", "dispute_lost"),
    ] {
        let events = dispute_events(&order.id, closed);
        let expected = every_order_agrees(&db, tenant.id, &order.id, &events, 120).await;
        assert_eq!(expected.0, end);
        assert_eq!(expected.5, payment_status);
        assert_eq!(expected.10, 1000, "the refund still counts");
        let disputes: Value = serde_json::from_str(&expected.11.0).unwrap();
        assert_eq!(disputes["dp_0"]["status"], closed);
        assert_eq!(disputes["dp_0"]["amount"], 1599);
        assert_eq!(disputes["dp_0"]["reason"], "fraudulent");
    }
}

/// Every permutation of `items`, by Heap's algorithm.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    fn heap(k: usize, a: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if k == 1 {
            out.push(a.clone());
            return;
        }
        heap(k - 1, a, out);
        for i in 0..k - 1 {
            if k.is_multiple_of(2) {
                a.swap(i, k - 1);
            } else {
                a.swap(0, k - 1);
            }
            heap(k - 1, a, out);
        }
    }
    let mut out = Vec::new();
    heap(n, &mut (0..n).collect(), &mut out);
    out
}

on_both!(
    every_delivery_order_applied_in_groups_reaches_the_same_state,
    in_groups
);
/// The applier takes events in groups: every delivery order, cut into two groups at
/// every place (a group of all seven, of one, and all between), reaches the state that
/// one-at-a-time applying reaches.
async fn in_groups(backend: Backend) {
    use gateway::orders::apply::{Item, apply_group};
    let (db, tenant, order) = one_order(backend, "perm-groups").await;
    let events = events(&order.id, 0);

    // One at a time, in the order given: the reference.
    let txn = db.begin().await.unwrap();
    for facts in &events {
        store::apply(&txn, tenant.id, facts, 2).await.unwrap();
    }
    let expected = state_of(&txn, tenant.id, &order.id, "pi_0").await;
    txn.rollback().await.unwrap();
    assert_eq!(expected.0, "REFUNDED");

    let orders = permutations(events.len());
    assert_eq!(orders.len(), 5040);
    let txn = db.begin().await.unwrap();
    for (n, delivery_order) in orders.iter().enumerate() {
        let cut = n % (events.len() + 1);
        let savepoint = txn.begin().await.unwrap();
        for part in [&delivery_order[..cut], &delivery_order[cut..]] {
            let items: Vec<Item> = part
                .iter()
                .map(|&i| Item {
                    tenant_id: tenant.id,
                    facts: &events[i],
                })
                .collect();
            let applied = apply_group(&savepoint, &items, 2).await.unwrap();
            assert_eq!(applied.applied.len(), part.len());
        }
        let state = state_of(&savepoint, tenant.id, &order.id, "pi_0").await;
        assert_eq!(
            state, expected,
            "delivery order {delivery_order:?} cut at {cut}"
        );
        savepoint.rollback().await.unwrap();
    }
    txn.rollback().await.unwrap();
}

on_both!(
    a_group_of_many_tenants_applies_each_event_to_its_own_order,
    many_tenants
);
/// One group may hold events of many orders and tenants: each lands on its own order,
/// never on another tenant's, and the outcomes are those of one-at-a-time applying.
async fn many_tenants(backend: Backend) {
    use gateway::orders::apply::{Item, apply_group};
    let db = fresh_database(backend).await;
    let mut all = Vec::new();
    for t in 0..3 {
        let tenant = tenants::create(
            &db,
            &TenantSlug::parse(&format!("group-{t}")).unwrap(),
            "Group",
            &Actor::cli(),
        )
        .await
        .unwrap();
        for o in 0..4 {
            let order = store::create(&db, tenant.id, 2599, "eur", None, true, 1)
                .await
                .unwrap();
            // Every tenant uses the same Stripe ids: only the tenant tells them apart.
            all.push((tenant.id, order.id.clone(), events(&order.id, o)));
        }
    }
    // Interleaved: event k of every order, then event k+1 of every order, …
    let mut items = Vec::new();
    for k in 0..7 {
        for (tenant_id, _, events) in &all {
            items.push(Item {
                tenant_id: *tenant_id,
                facts: &events[k],
            });
        }
    }
    let one_by_one = {
        let txn = db.begin().await.unwrap();
        let mut outcomes = Vec::new();
        for item in &items {
            outcomes.push(
                store::apply(&txn, item.tenant_id, item.facts, 2)
                    .await
                    .unwrap(),
            );
        }
        let mut states = Vec::new();
        for (tenant_id, order_id, _) in &all {
            let key = format!("pi_{}", states.len() % 4);
            states.push(state_of(&txn, *tenant_id, order_id, &key).await);
        }
        txn.rollback().await.unwrap();
        (outcomes, states)
    };
    let txn = db.begin().await.unwrap();
    let grouped = apply_group(&txn, &items, 2).await.unwrap();
    assert_eq!(grouped.applied, one_by_one.0);
    for ((tenant_id, order_id, _), expected) in all.iter().zip(&one_by_one.1) {
        let key = format!(
            "pi_{}",
            all.iter().position(|a| &a.1 == order_id).unwrap() % 4
        );
        assert_eq!(&state_of(&txn, *tenant_id, order_id, &key).await, expected);
        assert_eq!(expected.0, "REFUNDED");
    }
    // Each order changed status on its own events only: paid, partially refunded, refunded.
    assert_eq!(grouped.changes.len(), all.len() * 3);
    txn.rollback().await.unwrap();
}

on_both!(
    an_event_naming_only_the_order_sees_the_orders_payments,
    only_the_order
);
/// An event that names only the order (here a second Checkout Session of it expiring,
/// with no PaymentIntent) is applied with the order's payments, found through the
/// order: the paid order stays paid.
async fn only_the_order(backend: Backend) {
    use gateway::orders::apply::{Item, apply_group};
    let (db, tenant, order) = one_order(backend, "perm-only-order").await;
    let events = events(&order.id, 0);
    let mut other = fixture("checkout.session");
    other["id"] = json!("cs_other");
    other["metadata"] = json!({"order_id": order.id});
    other["payment_intent"] = Value::Null;
    other["status"] = json!("expired");
    other["amount_total"] = json!(2599);
    other["currency"] = json!("eur");
    let expired = facts("checkout.session.expired", other);
    assert!(expired.payment_intent_id.is_none() && expired.payment_key().is_none());
    let txn = db.begin().await.unwrap();
    for facts in &events[..2] {
        let item = Item {
            tenant_id: tenant.id,
            facts,
        };
        apply_group(&txn, &[item], 2).await.unwrap();
    }
    let paid = state_of(&txn, tenant.id, &order.id, "pi_0").await;
    assert_eq!(paid.0, "PAID");
    let item = Item {
        tenant_id: tenant.id,
        facts: &expired,
    };
    let applied = apply_group(&txn, &[item], 3).await.unwrap();
    assert_eq!(
        applied.applied[0].order_id.as_deref(),
        Some(order.id.as_str())
    );
    let after = state_of(&txn, tenant.id, &order.id, "pi_0").await;
    assert_eq!(after.0, "PAID", "the order's payment was not seen");
    assert!(after.1, "the expiry is recorded as a fact");
    txn.rollback().await.unwrap();
}

on_both!(
    an_order_from_before_running_totals_sums_its_payments_once,
    order_without_totals
);
/// An order kept before orders had running totals (none stored) with two payments of
/// its own: the next event reads all its payments, sums them and keeps the totals;
/// the event after reads none of them and still reaches the same status.
async fn order_without_totals(backend: Backend) {
    use gateway::orders::apply::{Item, apply_group};
    let (db, tenant, order) = one_order(backend, "perm-old-order").await;
    let intent = |pi: &str, amount: i64| {
        let mut intent = fixture("payment_intent");
        intent["id"] = json!(pi);
        intent["amount"] = json!(amount);
        intent["amount_received"] = json!(amount);
        intent["currency"] = json!("eur");
        intent["metadata"] = json!({"order_id": order.id});
        facts("payment_intent.succeeded", intent)
    };
    let refund = |pi: &str, amount: i64, refunded: i64| {
        let mut charge = fixture("charge");
        charge["id"] = json!(format!("ch_{pi}"));
        charge["payment_intent"] = json!(pi);
        charge["amount"] = json!(amount);
        charge["amount_refunded"] = json!(refunded);
        charge["currency"] = json!("eur");
        facts("charge.refunded", charge)
    };
    let apply = |facts: EventFacts| {
        let (db, tenant_id) = (&db, tenant.id);
        async move {
            let item = Item {
                tenant_id,
                facts: &facts,
            };
            apply_group(db, &[item], 2).await.unwrap()
        }
    };
    apply(intent("pi_a", 1000)).await;
    apply(intent("pi_b", 1599)).await;
    let status = |db: &sea_orm::DatabaseConnection| {
        let id = order.id.clone();
        let db = db.clone();
        async move {
            order::Entity::find_by_id(id)
                .one(&db)
                .await
                .unwrap()
                .unwrap()
        }
    };
    assert_eq!(status(&db).await.status, "PAID", "1000 + 1599 cover 2599");
    db.execute_unprepared("UPDATE orders SET totals = NULL")
        .await
        .unwrap();

    let refunded = apply(refund("pi_a", 1000, 400)).await;
    assert_eq!(refunded.changes.len(), 1);
    assert_eq!(
        (
            refunded.changes[0].amount_received,
            refunded.changes[0].amount_refunded
        ),
        (2599, 400),
        "both payments counted once"
    );
    let after = status(&db).await;
    assert_eq!(after.status, "PARTIALLY_REFUNDED");
    let kept = Totals::from_json(after.totals.as_deref()).expect("totals kept again");
    assert_eq!(
        (kept.succeeded, kept.received, kept.refunded),
        (2, 2599, 400)
    );

    // The rest refunded, the totals read alone: refunded in full.
    apply(refund("pi_a", 1000, 1000)).await;
    apply(refund("pi_b", 1599, 1599)).await;
    let end = status(&db).await;
    assert_eq!(end.status, "REFUNDED");
    let kept = Totals::from_json(end.totals.as_deref()).unwrap();
    assert_eq!((kept.received, kept.refunded), (2599, 2599));
}
