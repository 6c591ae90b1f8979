//! Disputes and cancellations through the real gateway (CONTRACT §11): a chargeback on
//! a paid meal is seen by the admin, told to the restaurant's backend with its due
//! date, raised as an alert until it is answered; a canceled PaymentIntent ends an
//! unpaid order and nothing else.

use crate::on_both_backends;
use crate::support::*;
use serde_json::{Value, json};
use std::time::Duration;

fn dispute(pay: &Payment, id: &str, status: &str, due_by: i64) -> Value {
    let mut d = fixture("dispute");
    d["id"] = json!(id);
    d["charge"] = json!(pay.charge);
    d["payment_intent"] = json!(pay.intent);
    d["amount"] = json!(pay.amount);
    d["currency"] = json!("eur");
    d["reason"] = json!("fraudulent");
    d["status"] = json!(status);
    d["evidence_details"]["due_by"] = json!(due_by);
    d["livemode"] = json!(true);
    d
}

/// A restaurant that Stripe sends events to, each answered 200 and settled `COMPLETED`.
struct Shop<'a> {
    app: &'a TestApp,
    tenant: &'a Tenant,
}

impl Shop<'_> {
    async fn send(&self, kind: &str, object: Value) -> String {
        let id = evt_id();
        let body = event(&id, kind, object);
        let response = self
            .app
            .deliver(&self.tenant.slug, &self.tenant.secret, &body)
            .await;
        assert_eq!(response.status(), 200);
        let row = self.app.settled(&id).await;
        assert_eq!(row["status"], "COMPLETED", "{row}");
        id
    }
}

async fn a_chargeback_is_shown_told_and_alerted_until_it_is_won(backend: Backend) {
    let alerts = Receiver::start(Behaviour::Accept).await;
    let env = [
        ("NOTIFY_ALLOW_PRIVATE", "true"),
        ("ALERT_WEBHOOK_URL", alerts.url.as_str()),
        ("ALERT_INTERVAL_SECS", "1"),
    ];
    let app = TestApp::spawn_with(backend, &env).await;
    let tenant = app.tenant();
    let shop = Shop {
        app: &app,
        tenant: &tenant,
    };
    let email = format!("ops-{}@example.com", random_hex(3));
    app.create_admin(&email, "platform_admin", None);
    let admin = app.as_admin(&app.login(&email).await);
    let hooks = Backend2::start().await;
    let reply = admin
        .tenant_post(
            &tenant.slug,
            "notification-endpoints",
            json!({"url": hooks.url}),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    hooks.set_secret(reply["secret"].as_str().unwrap());

    let order = app.create_order(&tenant, 2599).await;
    let pay = Payment::new(&order, 2599);
    shop.send("checkout.session.completed", pay.session("paid"))
        .await;
    assert_eq!(app.order_status(&order).await["status"], "PAID");

    let due_by = 1_893_456_000; // 2030-01-01T00:00:00Z
    let opened = dispute(&pay, "dp_e2e", "needs_response", due_by);
    shop.send("charge.dispute.created", opened).await;
    assert_eq!(app.order_status(&order).await["status"], "DISPUTED");

    // The admin sees the dispute on the order.
    let orders = admin
        .tenant_get(&tenant.slug, "orders?status=DISPUTED")
        .await;
    assert_eq!(orders.status, 200, "{:?}", orders.body);
    let shown = &orders["items"][0]["disputes"][0];
    assert_eq!(shown["id"], "dp_e2e");
    assert_eq!(shown["status"], "needs_response");
    assert_eq!(shown["amount"], 2599);
    assert_eq!(shown["reason"], "fraudulent");
    assert_eq!(shown["evidence_due_by"], "2030-01-01T00:00:00.000Z");

    // The restaurant's backend is told, with the due date.
    let told = eventually("order.disputed", Duration::from_secs(10), || async {
        hooks
            .got()
            .into_iter()
            .find_map(|(_, body, _)| body.filter(|b| b["type"] == "order.disputed"))
            .ok_or_else(|| "not yet".to_string())
    })
    .await;
    assert_eq!(told["data"]["order_id"], order.as_str());
    assert_eq!(
        told["data"]["dispute"]["evidence_due_by"],
        "2030-01-01T00:00:00.000Z"
    );
    assert_eq!(told["data"]["dispute"]["status"], "needs_response");

    // Diagnosis names it with the due date, and the alert fires.
    let findings = admin.tenant_get(&tenant.slug, "diagnosis").await;
    let finding = findings["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "dispute_needs_response")
        .cloned()
        .unwrap_or_else(|| panic!("{:?}", findings.body));
    assert_eq!(finding["severity"], "error");
    assert!(
        finding["summary"]
            .as_str()
            .unwrap()
            .contains("2030-01-01T00:00:00.000Z"),
        "{finding}"
    );
    let alerted = |state: &'static str| {
        let alerts = alerts.clone();
        async move {
            eventually(state, Duration::from_secs(15), || async {
                alerts
                    .received()
                    .into_iter()
                    .find(|a| a["code"] == "dispute_needs_response" && a["state"] == state)
                    .ok_or_else(|| "not yet".to_string())
            })
            .await
        }
    };
    assert_eq!(alerted("firing").await["tenant"], tenant.slug.as_str());

    // Answered and won: back to PAID, the finding and the alert end.
    shop.send(
        "charge.dispute.updated",
        dispute(&pay, "dp_e2e", "under_review", due_by),
    )
    .await;
    assert_eq!(app.order_status(&order).await["status"], "DISPUTED");
    alerted("resolved").await;
    shop.send(
        "charge.dispute.closed",
        dispute(&pay, "dp_e2e", "won", due_by),
    )
    .await;
    assert_eq!(app.order_status(&order).await["status"], "PAID");
    let findings = admin.tenant_get(&tenant.slug, "diagnosis").await;
    assert!(
        !findings.body.to_string().contains("dispute_needs_response"),
        "{:?}",
        findings.body
    );
}

async fn a_lost_dispute_is_final_whatever_arrives_later(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let shop = Shop {
        app: &app,
        tenant: &tenant,
    };
    let order = app.create_order(&tenant, 1500).await;
    let pay = Payment::new(&order, 1500);
    // The dispute's close arrives before its opening, and a payment event after both.
    shop.send("checkout.session.completed", pay.session("paid"))
        .await;
    shop.send("charge.dispute.closed", dispute(&pay, "dp_lost", "lost", 1))
        .await;
    assert_eq!(app.order_status(&order).await["status"], "DISPUTE_LOST");
    shop.send(
        "charge.dispute.created",
        dispute(&pay, "dp_lost", "needs_response", 1),
    )
    .await;
    shop.send("payment_intent.succeeded", pay.intent("succeeded"))
        .await;
    assert_eq!(app.order_status(&order).await["status"], "DISPUTE_LOST");
}

async fn a_canceled_payment_intent_ends_only_an_unpaid_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant();
    let shop = Shop {
        app: &app,
        tenant: &tenant,
    };
    let unpaid = app.create_order(&tenant, 900).await;
    let pay = Payment::new(&unpaid, 900);
    // The session records the PaymentIntent; its cancellation then finds the order.
    shop.send("checkout.session.completed", pay.session("unpaid"))
        .await;
    shop.send("payment_intent.canceled", pay.intent("canceled"))
        .await;
    assert_eq!(app.order_status(&unpaid).await["status"], "CANCELED");
    // A payment that succeeds after all is counted, as for an expired order.
    shop.send("payment_intent.succeeded", pay.intent("succeeded"))
        .await;
    assert_eq!(app.order_status(&unpaid).await["status"], "PAID");

    let paid = app.create_order(&tenant, 900).await;
    let pay = Payment::new(&paid, 900);
    shop.send("checkout.session.completed", pay.session("paid"))
        .await;
    shop.send("payment_intent.canceled", pay.intent("canceled"))
        .await;
    assert_eq!(app.order_status(&paid).await["status"], "PAID");
}

on_both_backends!(
    a_chargeback_is_shown_told_and_alerted_until_it_is_won,
    a_lost_dispute_is_final_whatever_arrives_later,
    a_canceled_payment_intent_ends_only_an_unpaid_order,
);
