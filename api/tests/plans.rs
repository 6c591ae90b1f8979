//! The reads of a group's rows on PostgreSQL probe indexes whatever the statistics
//! said when a connection cached its plan. A connection settles on a generic plan
//! after its first few executions of a statement, and on a freshly deployed database
//! those come while the tables are empty: a plan chosen then (a sequential scan of a
//! table that has no rows yet, a bitmap of a tenant's every payment) stayed while the
//! tables grew, until autovacuum's next `ANALYZE`, and made a group's read 3.8 ms
//! instead of 0.5 at 50,000 payments; and the inbox writers use nothing but generic
//! plans (`gateway::db::connect_writers`). Each read is prepared on an empty, migrated
//! database and its generic plan explained: it must probe only the indexes of the keys
//! it looks for (on an empty table, an index leading with the tenant costs the same
//! and was chosen, probed by the tenant alone). Needs `TEST_POSTGRES_URL` (see
//! `scripts/test.sh`).

mod common;

use sea_orm::{ConnectionTrait, DbBackend, Statement};

/// The highest `$N` in a statement: how many parameters it takes.
fn parameters(sql: &str) -> usize {
    sql.split('$')
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .max()
        .unwrap_or(0)
}

/// The indexes a group's reads may probe: each leads with the key probed.
const KEY_INDEXES: [&str; 7] = [
    "orders_pkey",
    "ix_orders_session",
    "ix_orders_intent",
    "payments_pkey",
    "ux_payments_key",
    "ix_payments_order",
    "ux_webhook_event_key",
];

#[tokio::test]
async fn the_reads_of_a_group_probe_indexes_on_a_fresh_database() {
    let url = common::new_postgres_database("plans").await;
    // One connection: the setting and the prepared statements are the session's.
    let db = gateway::db::connect_url(&url, 1).await.unwrap();
    gateway::db::migrate(&db).await.unwrap();
    db.execute_unprepared("SET plan_cache_mode = force_generic_plan")
        .await
        .unwrap();
    let stored = ("already_stored", gateway::webhooks::log::STORED_PROBE);
    for (what, sql) in gateway::orders::apply::postgres_reads()
        .into_iter()
        .chain([stored])
    {
        db.execute_unprepared(&format!("PREPARE read AS {sql}"))
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let nulls = vec!["NULL"; parameters(sql)].join(", ");
        let rows = db
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("EXPLAIN EXECUTE read({nulls})"),
            ))
            .await
            .unwrap();
        let plan: Vec<String> = rows
            .iter()
            .map(|row| row.try_get::<String>("", "QUERY PLAN").unwrap())
            .collect();
        let plan = plan.join("\n");
        for table in ["orders", "payments", "webhook_event"] {
            assert!(
                !plan.contains(&format!("Seq Scan on {table}")),
                "{what} scans {table}:\n{plan}"
            );
        }
        assert!(!plan.contains("BitmapAnd"), "{what} ANDs bitmaps:\n{plan}");
        // Each probe reads the index of its key: an index that leads with the tenant
        // would be read by the tenant alone, every row of the tenant filtered.
        for index in plan.split(" using ").skip(1) {
            let index = index.split_whitespace().next().unwrap_or_default();
            // The event log's partitions each have their own unique event key.
            let partition_key = index.starts_with("webhook_event_") && index.ends_with("_key");
            assert!(
                KEY_INDEXES.contains(&index) || partition_key,
                "{what} reads {index}, not the index of a key:\n{plan}"
            );
        }
        if what != "already_stored" {
            assert!(
                plan.contains("Index Scan using orders_pkey")
                    || plan.contains("Index Scan using payments_pkey"),
                "{what} locks through a primary key:\n{plan}"
            );
        }
        db.execute_unprepared("DEALLOCATE read").await.unwrap();
    }
}

/// The plans above are the ones the inbox writers run: their sessions never plan a
/// statement again (`plan_cache_mode`), while the gateway's other connections leave
/// the choice to PostgreSQL.
#[tokio::test]
async fn the_inbox_writers_sessions_use_generic_plans() {
    let url = common::new_postgres_database("writers").await;
    let vars = [
        ("DATABASE_URL", url.as_str()),
        (
            "PAYMENT_CONFIG_ENC_KEY",
            "0000000000000000000000000000000000000000000000000000000000000001",
        ),
        ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
    ];
    let config = gateway::config::Config::load(&gateway::config::Source::from_fn(|k| {
        vars.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.to_string())
    }))
    .unwrap();
    let main = gateway::db::connect(&config).await.unwrap();
    let writers = gateway::db::connect_writers(&config, &main).await.unwrap();
    let mode = |db: sea_orm::DatabaseConnection| async move {
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SHOW plan_cache_mode",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<String>(0).unwrap()
    };
    assert_eq!(mode(writers).await, "force_generic_plan");
    assert_eq!(mode(main).await, "auto");
}
