//! Every one of the 720 delivery orders of a subscription's six events, applied by the
//! real `subscriptions::apply` to a real database (SQLite in memory and a fresh
//! PostgreSQL database), leaves the same Subscription row: the newest event by `created`
//! wins, except that `canceled` is final (CONTRACT §12).

mod common;

use entity::subscription;
use gateway::orders::apply::Item;
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

fn facts(id: &str, kind: &str, created: i64, object: Value) -> EventFacts {
    let body = json!({"id": id, "object": "event", "type": kind, "created": created,
        "livemode": true, "data": {"object": object}});
    event::parse(&serde_json::to_vec(&body).unwrap()).unwrap()
}

fn subscription(status: &str, price: &str, period_end: i64, cancel: bool) -> Value {
    let mut sub = fixture("subscription");
    sub["id"] = json!("sub_perm");
    sub["customer"] = json!("cus_perm");
    sub["status"] = json!(status);
    sub["cancel_at_period_end"] = json!(cancel);
    sub["items"]["data"][0]["price"]["id"] = json!(price);
    sub["items"]["data"][0]["current_period_end"] = json!(period_end);
    sub
}

/// A meal plan's life: bought through Checkout, created, activated, a failed renewal,
/// canceled at the period's end, and a paid invoice created after the cancellation.
fn events() -> Vec<EventFacts> {
    let mut session = fixture("checkout.session");
    session["mode"] = json!("subscription");
    session["subscription"] = json!("sub_perm");
    session["payment_status"] = json!("paid");
    let mut invoice = fixture("invoice");
    invoice["subscription"] = json!("sub_perm");
    vec![
        facts("evt_1", "checkout.session.completed", 100, session),
        facts(
            "evt_2",
            "customer.subscription.created",
            100,
            subscription("incomplete", "price_a", 1000, false),
        ),
        facts(
            "evt_3",
            "customer.subscription.updated",
            110,
            subscription("active", "price_b", 2000, false),
        ),
        facts("evt_4", "invoice.payment_failed", 120, invoice.clone()),
        facts(
            "evt_5",
            "customer.subscription.deleted",
            130,
            subscription("canceled", "price_b", 2000, true),
        ),
        facts("evt_6", "invoice.paid", 140, invoice),
    ]
}

/// The row without its clocks.
type State = (
    Option<String>,
    String,
    String,
    Option<i64>,
    bool,
    Option<String>,
);

async fn state_of<C: ConnectionTrait>(db: &C, tenant_id: i64) -> State {
    let row = subscription::Entity::find()
        .filter(subscription::Column::TenantId.eq(tenant_id))
        .one(db)
        .await
        .unwrap()
        .expect("a subscription row");
    (
        row.customer,
        row.status,
        row.price_ids,
        row.current_period_end,
        row.cancel_at_period_end,
        row.checkout_session_id,
    )
}

fn explore<'a>(
    txn: &'a sea_orm::DatabaseTransaction,
    tenant_id: i64,
    events: &'a [EventFacts],
    path: &'a mut Vec<usize>,
    leaves: &'a mut Vec<(Vec<usize>, State)>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>> {
    Box::pin(async move {
        if path.len() == events.len() {
            leaves.push((path.clone(), state_of(txn, tenant_id).await));
            return;
        }
        for i in 0..events.len() {
            if path.contains(&i) {
                continue;
            }
            let savepoint = txn.begin().await.unwrap();
            let item = Item {
                tenant_id,
                facts: &events[i],
            };
            gateway::subscriptions::apply(&savepoint, &[item], 2)
                .await
                .unwrap();
            path.push(i);
            explore(&savepoint, tenant_id, events, path, leaves).await;
            path.pop();
            savepoint.rollback().await.unwrap();
        }
    })
}

async fn every_order(url: String) {
    let db = gateway::db::connect_url(&url, 1).await.unwrap();
    gateway::db::migrate(&db).await.unwrap();
    let slug = TenantSlug::parse("sub-perm").unwrap();
    let tenant = tenants::create(&db, &slug, "Perm", &Actor::cli())
        .await
        .unwrap();
    let events = events();
    let txn = db.begin().await.unwrap();
    let mut leaves = Vec::new();
    explore(&txn, tenant.id, &events, &mut Vec::new(), &mut leaves).await;
    txn.rollback().await.unwrap();
    assert_eq!(leaves.len(), 720, "every permutation of six events");
    let expected = leaves[0].1.clone();
    for (delivery_order, state) in &leaves {
        assert_eq!(state, &expected, "delivery order {delivery_order:?}");
    }
    let (customer, status, prices, period_end, cancel, session) = expected;
    assert_eq!(customer.as_deref(), Some("cus_perm"));
    assert_eq!(
        status, "canceled",
        "canceled is final, even before a later paid invoice"
    );
    assert_eq!(
        (prices.as_str(), period_end, cancel),
        ("[\"price_b\"]", Some(2000), true)
    );
    assert!(session.is_some(), "the Checkout Session is linked");
}

#[tokio::test]
async fn every_delivery_order_leaves_the_same_subscription_sqlite() {
    every_order("sqlite::memory:".into()).await
}

#[tokio::test]
async fn every_delivery_order_leaves_the_same_subscription_postgres() {
    every_order(common::new_postgres_database("subperm").await).await
}
