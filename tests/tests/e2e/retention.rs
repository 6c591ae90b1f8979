//! The event log does not grow for ever (CONTRACT §14): verified events received
//! longer ago than `EVENT_RETENTION_DAYS` are removed by the upkeep (on SQLite a
//! batched delete), what is younger stays — and still makes a late copy a duplicate.

use crate::support::*;
use sea_orm::ConnectionTrait;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Delivers a customer event; its Stripe id.
async fn delivered(app: &TestApp, tenant: &Tenant) -> (String, String) {
    let id = evt_id();
    let body = event(&id, "customer.created", fixture("customer"));
    let answer = app.deliver(&tenant.slug, &tenant.secret, &body).await;
    assert_eq!(answer.status(), 200);
    app.settled(&id).await;
    (id, body)
}

/// Moves the event's receipt `days` into the past.
async fn received_days_ago(db: &TestDb, id: &str, days: i64) {
    db.connect()
        .await
        .execute_unprepared(&format!(
            "UPDATE webhook_event SET received_at = received_at - {} \
             WHERE stripe_event_id = '{id}'",
            days * DAY_MS
        ))
        .await
        .unwrap();
}

async fn stored(db: &TestDb, id: &str) -> bool {
    !db.query(&format!(
        "SELECT id FROM webhook_event WHERE stripe_event_id = '{id}'"
    ))
    .await
    .is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_older_than_the_retention_are_removed_and_younger_ones_stay_duplicates() {
    within_limit(async {
        let mut app = TestApp::spawn(Backend::Sqlite).await;
        let tenant = app.tenant();
        let (old, _) = delivered(&app, &tenant).await;
        let (kept, kept_body) = delivered(&app, &tenant).await;
        let (fresh, _) = delivered(&app, &tenant).await;
        received_days_ago(&app.db, &old, 61).await;
        received_days_ago(&app.db, &kept, 59).await;
        app.kill();

        // The upkeep runs at start, then every ten minutes.
        let app = TestApp::spawn_on(app.db.clone(), &[("EVENT_RETENTION_DAYS", "60")]).await;
        eventually(
            "the 61-day-old event removed",
            std::time::Duration::from_secs(10),
            || async {
                match stored(&app.db, &old).await {
                    false => Ok(()),
                    true => Err(app.logs()),
                }
            },
        )
        .await;
        assert!(stored(&app.db, &kept).await, "59 days old: kept");
        assert!(stored(&app.db, &fresh).await, "today's: kept");
        assert!(
            app.logs()
                .contains("removed events past EVENT_RETENTION_DAYS"),
            "{}",
            app.logs()
        );
        // A late copy of what is kept is still a duplicate.
        let again = app
            .deliver_json(&tenant.slug, &tenant.secret, &kept_body)
            .await;
        assert_eq!(again["duplicate"], true, "{again}");
    })
    .await
}

/// Under 30 days, or not a number: start-up stops (exit 2, a setting) and names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retention_under_thirty_days_stops_start_up() {
    within_limit(async {
        let db = TestDb::new(Backend::Sqlite).await;
        for value in ["29", "ninety"] {
            let env = vec![
                ("DATABASE_URL".to_string(), db.url.clone()),
                (
                    "DATA_DIR".into(),
                    db.dir().join("data").display().to_string(),
                ),
                ("EVENT_RETENTION_DAYS".into(), value.into()),
            ];
            let out = cli(&env, &["serve"], None);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{value}: {stderr}");
            assert!(stderr.contains("EVENT_RETENTION_DAYS"), "{stderr}");
        }
    })
    .await
}
