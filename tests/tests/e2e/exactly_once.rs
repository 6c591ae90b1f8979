//! Duplicates, sequential and concurrent, are stored and applied once.

use crate::on_both_backends;
use crate::support::*;
use serde_json::Value;

async fn a_repeated_delivery_is_a_duplicate_and_applied_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let order = app.create_order(&tenant, 1500).await;
    let pay = Payment::new(&order, 1500);
    let id = evt_id();
    let body = event(&id, "checkout.session.completed", pay.session("paid"));
    let first: Value = app
        .deliver(&tenant.slug, &tenant.secret, &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["duplicate"], false);
    app.settled(&id).await;
    let updated_at = app.order_status(&order).await["updated_at"].clone();
    let second: Value = app
        .deliver(&tenant.slug, &tenant.secret, &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["duplicate"], true);
    assert_eq!(second["event_id"], id.as_str());
    // The tenant's events are applied in order: once a later one has settled, a wrongly
    // queued duplicate would have been applied too.
    let later = evt_id();
    let body = event(&later, "customer.created", fixture("customer"));
    app.deliver(&tenant.slug, &tenant.secret, &body).await;
    app.settled(&later).await;
    assert_eq!(app.order_status(&order).await["updated_at"], updated_at);
    let rows = app
        .db
        .query(&format!(
            "SELECT id FROM webhook_event WHERE stripe_event_id = '{id}'"
        ))
        .await;
    assert_eq!(rows.len(), 1);
}

async fn fifty_concurrent_deliveries_give_one_payment_and_one_state_change(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let order = app.create_order(&tenant, 4200).await;
    let pay = Payment::new(&order, 4200);
    let id = evt_id();
    let body = event(&id, "payment_intent.succeeded", {
        let mut pi = pay.intent("succeeded");
        pi["metadata"] = serde_json::json!({"order_id": order});
        pi
    });
    let header = sign(&tenant.secret, now(), &body);
    let sends = (0..50).map(|_| app.deliver_with_header(&tenant.slug, Some(&header), &body));
    let replies = futures_join_all(sends).await;
    let mut fresh = 0;
    for response in replies {
        assert_eq!(response.status(), 200);
        let reply: Value = response.json().await.unwrap();
        if reply["duplicate"] == false {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 1, "exactly one delivery is the new event");
    app.settled(&id).await;
    let events = app
        .db
        .query(&format!(
            "SELECT status, outcome FROM webhook_event WHERE stripe_event_id = '{id}'"
        ))
        .await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["outcome"], "applied");
    let payments = app
        .db
        .query(&format!(
            "SELECT status FROM payments WHERE tenant_id IS NOT NULL AND payment_intent_id = '{}'",
            pay.intent
        ))
        .await;
    assert_eq!(payments.len(), 1);
    assert_eq!(app.order_status(&order).await["status"], "PAID");
}

/// Two replicas on one PostgreSQL, each delivered every event of ten payments at once:
/// for each order its Checkout Session and its PaymentIntent, three times each. The
/// replicas race to store the same events and to create the same payments; every
/// delivery is still answered 200, each event is new exactly once and stored once, and
/// each order has one payment and is paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_racing_on_the_same_events_store_and_apply_each_once() {
    within_limit(async {
        let one = TestApp::spawn(Backend::Postgres).await;
        let two = TestApp::spawn_on(one.db.clone(), &[]).await;
        let tenant = one.tenant();
        let mut orders = Vec::new();
        let mut sends = Vec::new();
        for _ in 0..10 {
            let order = one.create_order(&tenant, 2700).await;
            let pay = Payment::new(&order, 2700);
            let session = event(&evt_id(), "checkout.session.completed", pay.session("paid"));
            let intent = event(
                &evt_id(),
                "payment_intent.succeeded",
                pay.intent("succeeded"),
            );
            for body in [session, intent] {
                let header = sign(&tenant.secret, now(), &body);
                for copy in 0..6 {
                    let app = if copy % 2 == 0 { &one } else { &two };
                    sends.push((app, header.clone(), body.clone()));
                }
            }
            orders.push((order, pay));
        }
        let replies =
            futures_join_all(sends.iter().map(|(app, header, body)| {
                app.deliver_with_header(&tenant.slug, Some(header), body)
            }))
            .await;
        let mut fresh: std::collections::HashMap<String, usize> = Default::default();
        for response in replies {
            assert_eq!(response.status(), 200);
            let reply: Value = response.json().await.unwrap();
            let id = reply["event_id"].as_str().unwrap().to_string();
            *fresh.entry(id).or_default() += usize::from(reply["duplicate"] == false);
        }
        assert_eq!(fresh.len(), 20);
        for (id, count) in &fresh {
            assert_eq!(*count, 1, "{id} was new {count} times");
            one.settled(id).await;
            let rows = one
                .db
                .query(&format!(
                    "SELECT status FROM webhook_event WHERE stripe_event_id = '{id}'"
                ))
                .await;
            assert_eq!(rows.len(), 1, "{id} is stored once");
            assert_eq!(rows[0]["status"], "COMPLETED");
        }
        for (order, pay) in &orders {
            let payments = one
                .db
                .query(&format!(
                    "SELECT status FROM payments WHERE payment_intent_id = '{}'",
                    pay.intent
                ))
                .await;
            assert_eq!(payments.len(), 1, "one payment for {order}");
            assert_eq!(one.order_status(order).await["status"], "PAID");
        }
    })
    .await
}

/// Runs futures concurrently on the current task.
pub async fn futures_join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = handles.iter().map(|_| None).collect();
    let mut pending = handles;
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for (i, f) in pending.iter_mut().enumerate() {
            if outputs[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => outputs[i] = Some(v),
                    std::task::Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

on_both_backends!(
    a_repeated_delivery_is_a_duplicate_and_applied_once,
    fifty_concurrent_deliveries_give_one_payment_and_one_state_change,
);
