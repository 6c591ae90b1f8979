//! Many replicas on one PostgreSQL (CONTRACT §14): replicas and `gateway migrate`s
//! started at the same moment on an empty database take turns at the migrations, all
//! start, and the schema is made once; replicas behind Debian's PgBouncer in
//! transaction pooling mode work, with `DATABASE_DIRECT_URL` for what needs a session.

use crate::support::*;
use std::time::Duration;

fn env_of(db: &TestDb) -> Vec<(String, String)> {
    vec![
        ("DATABASE_URL".into(), db.url.clone()),
        ("PAYMENT_CONFIG_ENC_KEY".into(), ENC_KEY.into()),
        ("JWT_SECRET".into(), JWT_SECRET.into()),
        (
            "DATA_DIR".into(),
            db.dir().join("data").display().to_string(),
        ),
        ("RUST_LOG".into(), "warn".into()),
    ]
}

/// Each migration recorded once, and every one of them.
async fn made_once(db: &TestDb) {
    let twice = db
        .query("SELECT version FROM seaql_migrations GROUP BY version HAVING count(*) > 1")
        .await;
    assert!(twice.is_empty(), "applied twice: {twice:?}");
    let applied = db.query("SELECT count(*) AS n FROM seaql_migrations").await;
    let n = applied[0]["n"].as_i64().unwrap();
    assert!(n >= 19, "every migration applied: {n}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_started_at_once_take_turns_and_make_the_schema_once() {
    within_limit(async {
        for round in 0..3 {
            // Three `gateway migrate` at the same moment on an empty database.
            let db = TestDb::new(Backend::Postgres).await;
            let env = env_of(&db);
            let runs: Vec<_> = (0..3)
                .map(|_| {
                    let env = env.clone();
                    std::thread::spawn(move || cli(&env, &["migrate"], None))
                })
                .collect();
            for run in runs {
                let out = run.join().unwrap();
                assert!(
                    out.status.success(),
                    "round {round}: a migrate failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            made_once(&db).await;
        }
        // Three replicas at the same moment (what an orchestrator does on a first
        // deploy): all start and answer.
        let db = TestDb::new(Backend::Postgres).await;
        let (a, b, c) = tokio::join!(
            TestApp::spawn_on(db.clone(), &[]),
            TestApp::spawn_on(db.clone(), &[]),
            TestApp::spawn_on(db.clone(), &[]),
        );
        for app in [&a, &b, &c] {
            let ready = reqwest::get(app.url("/ready")).await.unwrap();
            assert_eq!(ready.status(), 200);
        }
        made_once(&db).await;
    })
    .await
}

/// Two replicas whose `DATABASE_URL` is PgBouncer (transaction pooling) and whose
/// `DATABASE_DIRECT_URL` is PostgreSQL itself, their CLI too: deliveries to either are
/// acknowledged and applied once, a widget waiting on one is woken by a payment the
/// other applied, and a secret changed through the CLI is honoured by both at once
/// (the secret cache would otherwise hold it ten minutes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_behind_pgbouncer_apply_once_wake_each_other_and_honour_secret_changes() {
    within_limit(async {
        let bouncer = PgBouncer::start(false);
        let db = TestDb::new(Backend::Postgres).await;
        let name = db.url.rsplit('/').next().unwrap().to_string();
        let pooled = bouncer.url(&name);
        let settings = [
            ("DATABASE_URL", pooled.as_str()),
            ("DATABASE_DIRECT_URL", db.url.as_str()),
            ("SECRET_CACHE_TTL_MS", "600000"),
        ];
        let one = TestApp::spawn_on(db.clone(), &settings).await;
        let two = TestApp::spawn_on(db.clone(), &settings).await;
        let tenant = one.tenant();

        // Every order paid, each event delivered to both replicas, some twice at once.
        let mut orders = Vec::new();
        for _ in 0..20 {
            orders.push(one.create_order(&tenant, 2599).await);
        }
        let mut sent = Vec::new();
        for order in &orders {
            let id = evt_id();
            let body = paid_checkout(&id, order, 2599);
            let (a, b) = tokio::join!(
                one.deliver(&tenant.slug, &tenant.secret, &body),
                two.deliver(&tenant.slug, &tenant.secret, &body),
            );
            assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
            sent.push(id);
        }
        for order in &orders {
            two.order_reaches(order, "PAID").await;
        }
        for id in &sent {
            assert_eq!(one.settled(id).await["status"], "COMPLETED");
        }
        let payments = db.query("SELECT count(*) AS n FROM payments").await;
        assert_eq!(payments[0]["n"].as_i64(), Some(20), "one payment an order");
        let stored = db
            .query("SELECT count(*) AS n FROM webhook_event WHERE dedup_key IS NOT NULL")
            .await;
        assert_eq!(stored[0]["n"].as_i64(), Some(20), "one event stored each");

        // A widget on replica two, the payment through replica one.
        let order = one.create_order(&tenant, 2599).await;
        let tag = two
            .client
            .get(two.url(&format!("/api/v1/orders/{order}/status")))
            .send()
            .await
            .unwrap()
            .headers()["etag"]
            .to_str()
            .unwrap()
            .to_string();
        let wait = two
            .client
            .get(two.url(&format!("/api/v1/orders/{order}/status?wait=20")))
            .header("if-none-match", &tag)
            .send();
        let pay = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let body = paid_checkout(&evt_id(), &order, 2599);
            let answer = one.deliver(&tenant.slug, &tenant.secret, &body).await;
            assert_eq!(answer.status(), 200);
            std::time::Instant::now()
        };
        let (woken, paid_at) = tokio::join!(wait, pay);
        let woken = woken.unwrap();
        assert_eq!(woken.status(), 200);
        assert!(
            paid_at.elapsed() < Duration::from_secs(2),
            "woken {:?} after the payment",
            paid_at.elapsed()
        );

        // A new secret through the CLI (which goes through PgBouncer too): both replicas
        // refuse the old one and take the new one within two seconds.
        let secret = format!("whsec_{}", random_hex(16));
        one.cli_ok(&["config", "set-secret", &tenant.slug], Some(&secret));
        for app in [&one, &two] {
            app.deliveries_answer(&tenant.slug, &secret, 200, Duration::from_secs(2))
                .await;
            app.deliveries_answer(&tenant.slug, &tenant.secret, 400, Duration::from_secs(2))
                .await;
        }
        for app in [&one, &two] {
            let logs = app.logs();
            assert!(!logs.contains("prepared statement"), "{logs}");
            // The log's upkeep (partitions ahead, retention) ran through PgBouncer too.
            assert!(!logs.contains("could not remove events"), "{logs}");
        }
    })
    .await
}

/// Behind PgBouncer without `DATABASE_DIRECT_URL`, whether PgBouncer refuses the
/// session settings or lets them through unread: start-up stops, exit 1, with one
/// line that names `DATABASE_DIRECT_URL`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_pgbouncer_without_the_direct_url_start_up_stops_naming_it() {
    within_limit(async {
        let db = TestDb::new(Backend::Postgres).await;
        let name = db.url.rsplit('/').next().unwrap().to_string();
        for ignore_options in [false, true] {
            let bouncer = PgBouncer::start(ignore_options);
            let mut env = env_of(&db);
            env.retain(|(k, _)| k != "DATABASE_URL");
            env.push(("DATABASE_URL".into(), bouncer.url(&name)));
            for command in [&["migrate"][..], &["serve"][..]] {
                let out = cli(&env, command, None);
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert_eq!(out.status.code(), Some(1), "{command:?}: {stderr}");
                let lines = said_besides_the_database(&stderr);
                assert_eq!(lines.len(), 1, "{command:?}: {stderr}");
                assert!(lines[0].contains("DATABASE_DIRECT_URL"), "{}", lines[0]);
            }
        }
    })
    .await
}

/// The event log's move to monthly partitions on a log of 100,000 rows, while a writer
/// keeps inserting: the gateway starts (it applies the migration), the writer never
/// fails, every row is still there, the old table became the first partition as it
/// was (the same file on disk, its own indexes attached rather than built again), and
/// it still tells a duplicate: a delivery of an event it holds is answered so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_log_is_partitioned_online_with_a_hundred_thousand_rows() {
    use migration::MigratorTrait;
    use sea_orm::ConnectionTrait;
    within_limit(async {
        let db = TestDb::new(Backend::Postgres).await;
        let conn = db.connect().await;
        migration::Migrator::up(&conn, Some(20)).await.unwrap();
        conn.execute_unprepared(
            "INSERT INTO webhook_event (tenant_id, tenant_slug, stripe_event_id, dedup_key, \
             event_type, status, attempts, payload, received_at, source) \
             SELECT 1 + n % 20, 'resto', 'evt_old_' || n, 'evt_old_' || n, 'charge.succeeded', \
               'COMPLETED', 1, '{\"id\":\"evt_old_' || n || '\"}', \
               (extract(epoch FROM now()) * 1000)::bigint - n::bigint * 60000, 'webhook' \
             FROM generate_series(1, 100000) AS n",
        )
        .await
        .unwrap();
        let facts = |conn: sea_orm::DatabaseConnection| async move {
            let rows = conn
                .query_all_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    "SELECT c.relfilenode::bigint AS file, \
                       (SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid) AS indexes \
                     FROM pg_class c WHERE c.relname IN ('webhook_event', 'webhook_event_legacy') \
                       AND c.relkind = 'r'",
                ))
                .await
                .unwrap();
            let row = &rows[0];
            (
                row.try_get::<i64>("", "file").unwrap(),
                row.try_get::<i64>("", "indexes").unwrap(),
            )
        };
        let before = facts(db.connect().await).await;

        // A writer inserting rows all along, as the replicas of the previous version do.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (stop, conn) = (stop.clone(), db.connect().await);
            tokio::spawn(async move {
                let (mut written, mut failed) = (0u64, Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let key = format!("evt_during_{written}");
                    let sql = format!(
                        "INSERT INTO webhook_event (tenant_id, tenant_slug, stripe_event_id, \
                         dedup_key, event_type, status, attempts, received_at, source) \
                         VALUES (1, 'resto', '{key}', '{key}', 'charge.succeeded', 'COMPLETED', \
                         1, (extract(epoch FROM now()) * 1000)::bigint, 'webhook')"
                    );
                    match conn.execute_unprepared(&sql).await {
                        Ok(_) => written += 1,
                        Err(e) => failed.push(e.to_string()),
                    }
                }
                (written, failed)
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = std::time::Instant::now();
        let app = TestApp::spawn_on(db.clone(), &[]).await;
        let took = started.elapsed();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (written, failed) = writer.await.unwrap();
        eprintln!(
            "migrated 100,000 rows in {took:?}; the writer inserted {written} rows meanwhile"
        );
        assert!(failed.is_empty(), "the writer failed: {failed:?}");
        assert!(written > 0);

        let count = db.query("SELECT count(*) AS n FROM webhook_event").await;
        assert_eq!(count[0]["n"].as_i64(), Some(100_000 + written as i64));
        let kind = db
            .query("SELECT relkind::text AS k FROM pg_class WHERE relname = 'webhook_event'")
            .await;
        assert_eq!(kind[0]["k"], "p", "partitioned");
        let after = facts(db.connect().await).await;
        assert_eq!(
            after, before,
            "the same file, the same indexes (file, count)"
        );

        // Deliveries go on, and an event the old table holds is a duplicate.
        let tenant = app.tenant();
        let tenant_id = db
            .query(&format!(
                "SELECT id FROM tenant WHERE slug = '{}'",
                tenant.slug
            ))
            .await[0]["id"]
            .as_i64()
            .unwrap();
        let id = evt_id();
        let body = event(&id, "customer.created", fixture("customer"));
        let first = app.deliver_json(&tenant.slug, &tenant.secret, &body).await;
        assert_eq!(first["duplicate"], false, "{first}");
        app.settled(&id).await;
        let again = app.deliver_json(&tenant.slug, &tenant.secret, &body).await;
        assert_eq!(again["duplicate"], true, "{again}");
        let rows = db
            .query(&format!(
                "SELECT count(*) AS n FROM webhook_event WHERE stripe_event_id = '{id}'"
            ))
            .await;
        assert_eq!(rows[0]["n"].as_i64(), Some(1));
        // One of the hundred thousand, delivered again: a duplicate.
        assert!(
            tenant_id <= 20,
            "a fresh database's first tenant: {tenant_id}"
        );
        let old = format!("evt_old_{}", 20 + (tenant_id - 1) % 20);
        let body = event(&old, "customer.created", fixture("customer"));
        let late = app.deliver_json(&tenant.slug, &tenant.secret, &body).await;
        assert_eq!(late["duplicate"], true, "{late}");
    })
    .await
}
