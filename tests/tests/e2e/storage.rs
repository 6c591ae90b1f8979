//! Storage faults: a full disk, a locked table, a background task that ends. Deliveries
//! get prompt 503s, `/ready` tells the truth, service comes back without a restart, and
//! nothing acknowledged is lost.

use crate::on_both_backends;
use crate::support::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Stripe gives up on a delivery after about 10 s; the gateway must answer well before.
const PROMPT: Duration = Duration::from_secs(4);

async fn ready(app: &TestApp) -> (u16, Value) {
    let response = app.client.get(app.url("/ready")).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Delivers a fresh event and says how it was answered, checking it was prompt.
async fn deliver_timed(app: &TestApp, tenant: &Tenant, object: Value) -> (String, u16) {
    let id = evt_id();
    let body = event(&id, "customer.created", object);
    let sent = Instant::now();
    let status = app
        .deliver(&tenant.slug, &tenant.secret, &body)
        .await
        .status()
        .as_u16();
    assert!(
        sent.elapsed() < PROMPT,
        "answered {status} after {:?}",
        sent.elapsed()
    );
    assert!(
        status == 200 || status == 503,
        "only 200 or 503, got {status}"
    );
    (id, status)
}

async fn every_acknowledged_event_is_applied(app: &TestApp, acked: &[String]) {
    for id in acked {
        assert_eq!(app.settled(id).await["status"], "COMPLETED", "{id}");
    }
}

/// SQLite on an 8 MB filesystem, filled by deliveries, then grown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_gives_prompt_503s_and_recovers_without_a_restart() {
    within_limit(async {
        let Some(disk) = Tmpfs::mount("8m") else {
            eprintln!("skipped: mounting a tmpfs was refused (needs root)");
            return;
        };
        let env = [
            ("STORAGE_TIMEOUT_MS", "2000"),
            ("PROCESSING_LEASE_MS", "1000"),
        ];
        let app = TestApp::spawn_on(TestDb::sqlite_in(&disk.path), &env).await;
        let tenant = app.tenant();
        let mut object = fixture("customer");
        object["metadata"] = json!({"notes": "x".repeat(50_000)});
        let (mut acked, mut refused) = (Vec::new(), 0);
        for _ in 0..1000 {
            match deliver_timed(&app, &tenant, object.clone()).await {
                (id, 200) => acked.push(id),
                _ => refused += 1,
            }
            if refused >= 10 {
                break;
            }
        }
        assert!(
            refused >= 10 && !acked.is_empty(),
            "the disk filled after {} events",
            acked.len()
        );
        // While full: the process lives, and says it cannot take writes.
        let health = app.client.get(app.url("/health")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        let (status, body) = ready(&app).await;
        assert_eq!(status, 503, "{body}");
        assert!(
            body["reason"].as_str().unwrap().contains("storage"),
            "{body}"
        );
        for _ in 0..5 {
            assert_eq!(deliver_timed(&app, &tenant, object.clone()).await.1, 503);
        }
        // The operator gives it room: no restart.
        disk.grow("256m");
        let within = Duration::from_secs(15);
        app.deliveries_answer(&tenant.slug, &tenant.secret, 200, within)
            .await;
        eventually("ready again", within, || async {
            match ready(&app).await {
                (200, _) => Ok(()),
                (_, body) => Err(body.to_string()),
            }
        })
        .await;
        every_acknowledged_event_is_applied(&app, &acked).await;
        let locked = app.logs().matches("database is locked").count();
        assert!(
            locked < 5,
            "no lock left behind by a failed commit ({locked} mentions)"
        );
    })
    .await
}

/// PostgreSQL, with `webhook_event` locked by another session (as a migration or
/// `VACUUM FULL` would) for a while.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_table_gives_prompt_503s_and_nothing_acknowledged_is_lost() {
    within_limit(async {
        let env = [("STORAGE_TIMEOUT_MS", "2000")];
        let app = TestApp::spawn_with(Backend::Postgres, &env).await;
        let tenant = app.tenant();
        let object = fixture("customer");
        let mut acked = vec![deliver_timed(&app, &tenant, object.clone()).await.0];
        use sea_orm::{ConnectionTrait, TransactionTrait};
        let other = app.db.connect().await;
        let lock = other.begin().await.unwrap();
        lock.execute_unprepared("LOCK TABLE webhook_event, orders IN ACCESS EXCLUSIVE MODE")
            .await
            .unwrap();
        // A restaurant backend creating an order waits a bounded time too, then gets 503.
        let sent = Instant::now();
        let created = app
            .client
            .post(app.url(&format!("/api/v1/tenants/{}/orders", tenant.slug)))
            .bearer_auth(&tenant.api_key)
            .json(&json!({"amount": 100, "currency": "eur"}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 503);
        assert!(
            sent.elapsed() < PROMPT,
            "answered after {:?}",
            sent.elapsed()
        );
        for _ in 0..4 {
            let (id, status) = deliver_timed(&app, &tenant, object.clone()).await;
            if status == 200 {
                acked.push(id);
            }
            assert_eq!(
                status, 503,
                "nothing can be stored while the table is locked"
            );
        }
        let (status, body) = ready(&app).await;
        assert_eq!(status, 503, "{body}");
        lock.commit().await.unwrap();
        let within = Duration::from_secs(10);
        app.deliveries_answer(&tenant.slug, &tenant.secret, 200, within)
            .await;
        for _ in 0..3 {
            let (id, status) = deliver_timed(&app, &tenant, object.clone()).await;
            assert_eq!(status, 200);
            acked.push(id);
        }
        eventually("ready again", within, || async {
            match ready(&app).await {
                (200, _) => Ok(()),
                (_, body) => Err(body.to_string()),
            }
        })
        .await;
        every_acknowledged_event_is_applied(&app, &acked).await;
    })
    .await
}

/// With the `fault-injection` build (scripts/test.sh), `GATEWAY_FAULT=TASK@KEY` makes a
/// background task panic once, on the first unit of work that names KEY (whichever
/// copy of the task takes it), and `GATEWAY_FAULT=TASK:N` on its N-th unit.
/// `GATEWAY_RESTART_AFTER_MS` holds the ended task down for that long, so that `/ready`
/// is seen naming it however loaded the machine is.
async fn a_background_task_that_ends_is_started_again(backend: Backend) {
    // An inbox writer panics on the group that holds this event.
    let doomed = evt_id();
    let env = [
        ("GATEWAY_FAULT", format!("inbox writer@{doomed}")),
        ("GATEWAY_RESTART_AFTER_MS", "5000".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with(backend, &env).await;
    let tenant = app.tenant();
    let object = fixture("customer");
    let (first, status) = deliver_timed(&app, &tenant, object.clone()).await;
    assert_eq!(status, 200);
    let body = event(&doomed, "customer.created", object.clone());
    let status = app
        .deliver(&tenant.slug, &tenant.secret, &body)
        .await
        .status();
    assert_eq!(
        status, 503,
        "the group being written when the writer died is not acknowledged"
    );
    let reason = eventually(
        "/ready names the writer",
        Duration::from_secs(4),
        || async {
            match ready(&app).await {
                (503, body) => Ok(body["reason"].as_str().unwrap_or_default().to_string()),
                (_, body) => Err(body.to_string()),
            }
        },
    )
    .await;
    assert!(
        reason.contains("inbox writer"),
        "{reason}; was the gateway built with --features gateway/fault-injection?"
    );
    // The log is read by another thread: the line may come a moment after /ready.
    eventually("the end logged", Duration::from_secs(5), || async {
        let logs = app.logs();
        if logs.contains("background task ended") {
            Ok(())
        } else {
            Err(logs)
        }
    })
    .await;
    // Stripe retries the refused event: once the writer is back, it is stored and
    // applied, and so is everything acknowledged before.
    app.deliveries_answer(&tenant.slug, &tenant.secret, 200, Duration::from_secs(20))
        .await;
    let again = app.deliver(&tenant.slug, &tenant.secret, &body).await;
    assert_eq!(again.status(), 200);
    every_acknowledged_event_is_applied(&app, &[first, doomed]).await;

    // An applier panics on its first group: its events stay PROCESSING until their
    // lease ends, and the sweep gives them to the applier started again. (Applying in
    // the storing transaction is refused, so that the event goes to an applier.)
    let env = [
        ("GATEWAY_FAULT", "applier:1"),
        ("GATEWAY_REFUSE", "inline apply"),
        ("PROCESSING_LEASE_MS", "1000"),
    ];
    let app = TestApp::spawn_with(backend, &env).await;
    let tenant = app.tenant();
    let (id, status) = deliver_timed(&app, &tenant, object).await;
    assert_eq!(status, 200);
    assert_eq!(app.settled(&id).await["status"], "COMPLETED");
    assert!(
        app.logs().contains("injected fault in applier"),
        "{}",
        app.logs()
    );
}

on_both_backends!(a_background_task_that_ends_is_started_again);
