use super::*;
use crate::stripe::event;
use serde_json::{Value, json};

fn event_of(id: &str, kind: &str, created: i64, object: Value) -> EventFacts {
    let body = json!({"id": id, "object": "event", "type": kind, "created": created,
        "livemode": true, "data": {"object": object}});
    event::parse(body.to_string().as_bytes()).expect("an event")
}

fn sub(status: &str, price: &str, period_end: i64) -> Value {
    json!({"id": "sub_1", "object": "subscription", "customer": "cus_1", "status": status,
        "cancel_at_period_end": false,
        "items": {"data": [{"price": {"id": price}, "current_period_end": period_end}]}})
}

fn apply_all(events: &[&EventFacts]) -> subscription::Model {
    let first = events[0].subscription.as_ref().unwrap();
    let mut row = empty(1, first, true, 0);
    for e in events {
        merge(&mut row, e, e.subscription.as_ref().unwrap());
    }
    row
}

fn every_order_agrees(events: &[EventFacts]) -> subscription::Model {
    let mut orders: Vec<Vec<usize>> = vec![vec![]];
    for n in 0..events.len() {
        orders = orders
            .into_iter()
            .flat_map(|o| {
                (0..=o.len()).map(move |at| {
                    let mut o = o.clone();
                    o.insert(at, n);
                    o
                })
            })
            .collect();
    }
    let rows: Vec<subscription::Model> = orders
        .iter()
        .map(|o| apply_all(&o.iter().map(|&i| &events[i]).collect::<Vec<_>>()))
        .collect();
    for (o, row) in orders.iter().zip(&rows) {
        assert_eq!(row, &rows[0], "delivered in the order {o:?}");
    }
    rows[0].clone()
}

#[test]
fn the_newest_event_wins_whatever_the_order() {
    let events = [
        event_of(
            "evt_a",
            "customer.subscription.created",
            100,
            sub("incomplete", "price_a", 1000),
        ),
        event_of(
            "evt_b",
            "customer.subscription.updated",
            200,
            sub("active", "price_a", 1000),
        ),
        event_of(
            "evt_c",
            "invoice.payment_failed",
            300,
            json!({"id": "in_1", "object": "invoice", "customer": "cus_1", "subscription": "sub_1"}),
        ),
        event_of(
            "evt_d",
            "customer.subscription.updated",
            400,
            sub("active", "price_b", 2000),
        ),
    ];
    let row = every_order_agrees(&events);
    assert_eq!(row.status, "active", "the newest (evt_d) says active");
    assert_eq!(price_ids(&row), vec!["price_b"]);
    assert_eq!(row.current_period_end, Some(2000));
    assert_eq!(row.customer.as_deref(), Some("cus_1"));
}

#[test]
fn canceled_is_final() {
    let events = [
        event_of(
            "evt_a",
            "customer.subscription.updated",
            100,
            sub("active", "price_a", 1000),
        ),
        event_of(
            "evt_b",
            "customer.subscription.deleted",
            200,
            sub("canceled", "price_a", 1000),
        ),
        // A late `invoice.paid` created after the cancellation does not revive it.
        event_of(
            "evt_c",
            "invoice.paid",
            300,
            json!({"id": "in_1", "object": "invoice", "customer": "cus_1", "subscription": "sub_1"}),
        ),
        event_of(
            "evt_d",
            "checkout.session.completed",
            50,
            json!({"id": "cs_1", "object": "checkout.session", "mode": "subscription",
                   "subscription": "sub_1", "customer": "cus_1", "payment_status": "paid"}),
        ),
    ];
    let row = every_order_agrees(&events);
    assert_eq!(row.status, CANCELED);
    assert_eq!(row.checkout_session_id.as_deref(), Some("cs_1"));
}

#[test]
fn a_checkout_alone_leaves_the_status_unknown_and_the_same_event_twice_changes_nothing() {
    let checkout = event_of(
        "evt_a",
        "checkout.session.completed",
        50,
        json!({"id": "cs_1", "object": "checkout.session", "mode": "subscription",
               "subscription": "sub_1", "payment_status": "paid"}),
    );
    let row = apply_all(&[&checkout]);
    assert_eq!(shown_status(&row), UNKNOWN_STATUS);
    let updated = event_of(
        "evt_b",
        "customer.subscription.updated",
        100,
        sub("trialing", "p", 1),
    );
    let mut row = apply_all(&[&checkout, &updated]);
    assert_eq!(shown_status(&row), "trialing");
    assert!(!merge(
        &mut row,
        &updated,
        updated.subscription.as_ref().unwrap()
    ));
}
