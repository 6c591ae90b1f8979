//! Many replicas on one PostgreSQL (CONTRACT §14): replicas and `gateway migrate`s
//! started at the same moment on an empty database take turns at the migrations, all
//! start, and the schema is made once.

use crate::support::*;

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
