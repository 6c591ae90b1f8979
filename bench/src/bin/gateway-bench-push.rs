//! Pushing to restaurants and widgets: (1) WIDGETS widgets long-poll ORDERS orders at
//! once on one gateway — its memory at rest and while they wait, and the time from each
//! order's paying delivery to its widgets' answers; (2) notifications delivered per
//! second to a local receiver while NOTIFY orders are paid.

use axum::Router;
use axum::routing::post;
use clap::Parser;
use gateway::orders::store;
use gateway::tenants::audit::Actor;
use gateway::tenants::secrets::{self, WebhookSecret};
use gateway::tenants::{self, TenantSlug};
use gateway::vault::{KeyRing, VaultKey};
use gateway_bench::{ENC_KEY, cpu_of, ms, open_database, percentile, rss_mib, start_gateway_with};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    database_url: String,
    #[arg(long, default_value_t = 10_000)]
    widgets: usize,
    #[arg(long, default_value_t = 100)]
    orders: usize,
    #[arg(long, default_value_t = 2_000)]
    notify: usize,
    /// The gateway binary (default: the one beside this benchmark).
    #[arg(long)]
    gateway: Option<String>,
    /// The endpoint also subscribes to `checkout.session.completed`: each payment is
    /// then an `order.paid` and the Stripe event forwarded (two notifications).
    #[arg(long)]
    forward: bool,
}

fn signed(secret: &str, order: &str, amount: i64) -> (String, String) {
    let body = json!({
        "id": format!("evt_{}", random_hex()), "object": "event", "type": "checkout.session.completed",
        "created": now(), "livemode": true,
        "data": {"object": {"id": format!("cs_{}", random_hex()), "object": "checkout.session", "payment_status": "paid",
                 "amount_total": amount, "currency": "eur", "metadata": {"order_id": order},
                 "payment_intent": format!("pi_{}", random_hex())}}
    })
    .to_string();
    let header = gateway::stripe::signature::sign_header(secret.as_bytes(), now(), body.as_bytes());
    (header, body)
}

fn random_hex() -> String {
    let mut b = [0u8; 10];
    rand::fill(&mut b);
    hex::encode(b)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::main]
async fn main() {
    gateway_bench::install_crypto();
    let args = Args::parse();
    let (backend, db) = open_database(&args.database_url, 4).await;
    let ring = KeyRing::new(VaultKey::from_hex(ENC_KEY).unwrap(), vec![]);
    let tenant = tenants::create(
        &db,
        &TenantSlug::parse("push-bench").unwrap(),
        "Push",
        &Actor::cli(),
    )
    .await
    .unwrap();
    let secret = format!("whsec_{}", random_hex());
    secrets::set(
        &db,
        &ring,
        tenant.id,
        &WebhookSecret::parse(&secret).unwrap(),
        gateway::tenants::api_keys::Mode::Live,
        &Actor::cli(),
    )
    .await
    .unwrap();
    // The restaurant's backend: counts what it receives.
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new().route(
        "/hook",
        post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let types: &[&str] = match args.forward {
        true => &["order.*", "checkout.session.completed"],
        false => &["order.*"],
    };
    let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
    let patterns = gateway::notify::patterns::Patterns::parse(&types).unwrap();
    let per_payment = types.len();
    gateway::notify::endpoints::add(&db, &ring, tenant.id, &hook, &patterns, true, &Actor::cli())
        .await
        .unwrap();
    let mut orders = Vec::new();
    for _ in 0..args.orders + args.notify {
        orders.push(
            store::create(&db, tenant.id, 2599, "eur", None, true, 1)
                .await
                .unwrap()
                .id,
        );
    }
    let env = [
        ("NOTIFY_ALLOW_PRIVATE", "true"),
        ("MAX_CONNECTIONS", "30000"),
        ("RATE_LIMIT_STATUS_PER_SEC", "1000000"),
        ("RATE_LIMIT_STATUS_BURST", "1000000"),
    ];
    let (mut child, addr) = start_gateway_with(args.gateway.as_deref(), &args.database_url, &env);
    let base = format!("http://{addr}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let pay_client = reqwest::Client::new();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Phase 1: widgets waiting.
    let (long_polled, paid) = orders.split_at(args.orders);
    let mut etags = Vec::new();
    for o in long_polled {
        let r = pay_client
            .get(format!("{base}/api/v1/orders/{o}/status"))
            .send()
            .await
            .unwrap();
        etags.push(r.headers()["etag"].to_str().unwrap().to_string());
    }
    let rest = rss_mib(child.id());
    let answered_at: Arc<std::sync::Mutex<Vec<(usize, Instant, u16)>>> = Arc::default();
    let mut widgets = Vec::new();
    for w in 0..args.widgets {
        let i = w % args.orders;
        let (client, url, tag, answered) = (
            client.clone(),
            format!("{base}/api/v1/orders/{}/status?wait=60", long_polled[i]),
            etags[i].clone(),
            answered_at.clone(),
        );
        widgets.push(tokio::spawn(async move {
            let status = match client.get(url).header("if-none-match", tag).send().await {
                Ok(r) => r.status().as_u16(),
                Err(_) => 0,
            };
            answered.lock().unwrap().push((i, Instant::now(), status));
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await; // every widget connected and waiting
    let waiting = rss_mib(child.id());
    let early = answered_at.lock().unwrap().len();
    let mut paid_at = vec![Instant::now(); args.orders];
    let started = Instant::now();
    for (i, o) in long_polled.iter().enumerate() {
        let (header, body) = signed(&secret, o, 2599);
        let r = pay_client
            .post(format!("{base}/api/v1/webhooks/stripe/push-bench"))
            .header("stripe-signature", header)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        paid_at[i] = Instant::now();
    }
    for w in widgets {
        w.await.unwrap();
    }
    let all = started.elapsed();
    let answered = answered_at.lock().unwrap().clone();
    let ok = answered.iter().filter(|(_, _, s)| *s == 200).count();
    let mut lags: Vec<Duration> = answered
        .iter()
        .map(|(i, at, _)| at.saturating_duration_since(paid_at[*i]))
        .collect();
    lags.sort();
    println!(
        "== {backend}: {} widgets long-polling {} orders",
        args.widgets, args.orders
    );
    println!(
        "  gateway memory (VmRSS): {rest:.1} MiB at rest, {waiting:.1} MiB with every widget waiting ({:.1} KiB a widget)",
        (waiting - rest) * 1024.0 / args.widgets as f64
    );
    println!(
        "  answered 200: {ok} of {} ({early} answered before any payment); from an order's paying 200 to its widgets' answers: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; all {} orders paid and every widget answered in {:.2} s",
        args.widgets,
        ms(percentile(&lags, 0.5)),
        ms(percentile(&lags, 0.99)),
        ms(percentile(&lags, 1.0)),
        args.orders,
        all.as_secs_f64()
    );

    // Phase 2: notifications per second.
    let before = received.load(Ordering::Relaxed);
    let cpu = cpu_of(child.id());
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let paid: Arc<Vec<String>> = Arc::new(paid.to_vec());
    let mut senders = Vec::new();
    for _ in 0..32 {
        let (next, paid, client, base, secret) = (
            next.clone(),
            paid.clone(),
            pay_client.clone(),
            base.clone(),
            secret.clone(),
        );
        senders.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(o) = paid.get(i) else { break };
                let (header, body) = signed(&secret, o, 2599);
                let r = client
                    .post(format!("{base}/api/v1/webhooks/stripe/push-bench"))
                    .header("stripe-signature", header)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let expected = args.notify * per_payment;
    while received.load(Ordering::Relaxed) - before < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    let delivered = received.load(Ordering::Relaxed) - before;
    let cpu = (cpu_of(child.id()) - cpu).as_secs_f64() * 1e6 / delivered.max(1) as f64;
    println!("== {backend}: notifications to a local receiver");
    let what = match args.forward {
        true => "order.paid notifications and forwarded checkout.session.completed events",
        false => "order.paid notifications",
    };
    println!(
        "  {delivered} of {expected} {what} delivered in {:.2} s from the first payment: {:.0} notifications/s (gateway CPU {cpu:.0} µs per notification with its share of the payment)",
        took.as_secs_f64(),
        delivered as f64 / took.as_secs_f64()
    );
    let _ = child.kill();
    let _ = child.wait();
}
