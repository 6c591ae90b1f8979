//! Every one of the 5040 delivery orders of a realistic event set, applied by the real
//! `orders::store::apply` to a real (in-memory SQLite) database, ends in the same
//! order and payment state.

use entity::{order, payment};
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
);

async fn state_of<C: ConnectionTrait>(db: &C, tenant_id: i64, order_id: &str, key: &str) -> State {
    let order = order::Entity::find_by_id(order_id.to_string())
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let payments = payment::Entity::find()
        .filter(payment::Column::TenantId.eq(tenant_id))
        .filter(payment::Column::PaymentKey.eq(key))
        .all(db)
        .await
        .unwrap();
    assert_eq!(payments.len(), 1);
    let p = &payments[0];
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

#[tokio::test]
async fn every_delivery_order_reaches_the_same_order_and_payment_state() {
    let db = gateway::db::connect_url("sqlite::memory:", 1)
        .await
        .unwrap();
    gateway::db::migrate(&db).await.unwrap();
    let tenant = tenants::create(
        &db,
        &TenantSlug::parse("perm-test").unwrap(),
        "Perm",
        &Actor::cli(),
    )
    .await
    .unwrap();
    let order = store::create(&db, tenant.id, 2599, "eur", None, true, 1)
        .await
        .unwrap();
    let events = events(&order.id, 0);
    let txn = db.begin().await.unwrap();
    let mut leaves = Vec::new();
    explore(
        &txn,
        tenant.id,
        &order.id,
        "pi_0",
        &events,
        &mut Vec::new(),
        &mut leaves,
    )
    .await;
    txn.rollback().await.unwrap();
    assert_eq!(leaves.len(), 5040, "every permutation of 7 events");
    let expected = leaves[0].1.clone();
    for (delivery_order, state) in &leaves {
        assert_eq!(state, &expected, "delivery order {delivery_order:?}");
    }
    let (status, .., payment_status, amount, currency, _, _, refunded) = expected;
    assert_eq!(status, "REFUNDED");
    assert_eq!(payment_status, "refunded");
    assert_eq!(
        (amount, currency.as_deref(), refunded),
        (Some(2599), Some("eur"), 2599)
    );
}
