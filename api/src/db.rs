//! Opening the database, with the settings each backend needs.

use crate::config::Config;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use std::time::Duration;

/// Opens a pool. SQLite runs in WAL mode with a full fsync at every commit; its writers
/// take the write lock when they begin (`begin_write`) and queue on it. Nothing waits
/// longer than `STORAGE_TIMEOUT_MS` for a connection, for SQLite's lock, or (on
/// PostgreSQL) for a table another session has locked: past that, the caller gets an
/// error and answers 503, rather than hanging.
pub async fn connect(config: &Config) -> Result<DatabaseConnection, DbErr> {
    open(
        &config.database_url,
        config.database_max_connections,
        true,
        config.storage_timeout,
    )
    .await
}

/// The connection the processor applies events with. What it commits need not be
/// synced to disk before the commit returns: if a crash loses it, the event is still
/// `PROCESSING` (the inbox's commit was synced) and is applied again. So on SQLite it
/// is a connection of its own with `synchronous=NORMAL`; on PostgreSQL the transactions
/// set `synchronous_commit = off` (see `begin_relaxed`).
pub async fn connect_processor(
    config: &Config,
    main: &DatabaseConnection,
) -> Result<DatabaseConnection, DbErr> {
    if main.get_database_backend() != DbBackend::Sqlite
        || sqlite_file(&config.database_url).is_none()
    {
        return Ok(main.clone());
    }
    open(&config.database_url, 1, false, config.storage_timeout).await
}

/// The connections the inbox writers store and apply groups with: on PostgreSQL a
/// pool of their own, one connection a writer and one for the recorder of rejected
/// deliveries, whose statements always use their generic plan
/// (`plan_cache_mode = force_generic_plan`). Left to choose, PostgreSQL
/// planned the group's statements again at nearly every execution — a custom plan
/// knows how many keys each array holds and so always looks cheaper — and planning
/// the group's read and write took 0.8 and 0.3 ms, more than running them (0.2 and
/// 0.1 ms): at 200 webhooks/s, half a millisecond of every delivery's 200. The
/// statements are written so that their generic plans probe the right index whatever
/// the tables' statistics (`api/tests/plans.rs`). On SQLite, the ordinary pool.
pub async fn connect_writers(
    config: &Config,
    main: &DatabaseConnection,
) -> Result<DatabaseConnection, DbErr> {
    if main.get_database_backend() != DbBackend::Postgres {
        return Ok(main.clone());
    }
    open_settings(
        &config.database_url,
        config.processing.inbox_writers as u32 + 1,
        true,
        config.storage_timeout,
        &[("plan_cache_mode", "force_generic_plan")],
    )
    .await
}

/// A pool on `url` with the default waits (benchmarks and tests).
pub async fn connect_url(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    open(url, max_connections, true, Duration::from_secs(5)).await
}

async fn open(
    url: &str,
    max_connections: u32,
    full_sync: bool,
    wait: Duration,
) -> Result<DatabaseConnection, DbErr> {
    open_settings(url, max_connections, full_sync, wait, &[]).await
}

/// `open`, with PostgreSQL sessions that also start with `settings`.
async fn open_settings(
    url: &str,
    max_connections: u32,
    full_sync: bool,
    wait: Duration,
    settings: &'static [(&'static str, &'static str)],
) -> Result<DatabaseConnection, DbErr> {
    if let Some(path) = sqlite_file(url)
        && let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut options = ConnectOptions::new(url.to_string());
    options
        .max_connections(max_connections)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(3))
        .acquire_timeout(wait)
        .sqlx_logging(false)
        .map_sqlx_postgres_opts(move |opts| {
            opts.options([("lock_timeout", format!("{}ms", wait.as_millis()))])
                .options(settings.iter().map(|&(k, v)| (k, v)))
        })
        .map_sqlx_sqlite_opts(move |opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(if full_sync {
                    sea_orm::sqlx::sqlite::SqliteSynchronous::Full
                } else {
                    sea_orm::sqlx::sqlite::SqliteSynchronous::Normal
                })
                .busy_timeout(wait)
                .foreign_keys(true)
                .create_if_missing(true)
        });
    let db = Database::connect(options).await?;
    db.execute_unprepared("SELECT 1").await?;
    Ok(db)
}

fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && !path.starts_with(":memory:")).then_some(path)
}

/// `(tenant, key)` pairs as the two PostgreSQL arrays `unnest($1::int8[], $2::text[])`
/// reads back as rows: how the fixed statements of the write path take a group's keys.
/// (The planner takes an array parameter for about ten rows, so it probes indexes; a
/// JSON `json_to_recordset` counts as a hundred and made it scan payments instead.)
pub fn pair_arrays<'a>(pairs: impl Iterator<Item = (i64, &'a str)>) -> [sea_orm::Value; 2] {
    let (tenants, keys): (Vec<i64>, Vec<String>) = pairs.map(|(t, k)| (t, k.to_string())).unzip();
    [tenants.into(), keys.into()]
}

/// One writer at a time per process on SQLite: writers queue here, in order, instead
/// of in SQLite's busy handler, which sleeps in steps of up to 100 ms.
static SQLITE_WRITE_GATE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A write transaction; on SQLite it also holds this process's write turn.
///
/// On SQLite a failed statement or COMMIT (a full disk, an I/O error) may roll the
/// transaction back by itself. sqlx does not see that: its ROLLBACK then fails, it
/// believes the connection is still inside a transaction, and turns every later
/// `BEGIN IMMEDIATE` on that connection into a savepoint of a deferred transaction —
/// which is how a disk that filled up once left "database is locked" behind until a
/// restart. So on SQLite the transaction is committed by hand and, when it ends
/// otherwise, settled (`settle`): SQLite and sqlx agree again before the connection
/// returns to the pool, and the write turn is released only then.
pub struct WriteTxn {
    txn: Option<DatabaseTransaction>,
    turn: Option<tokio::sync::MutexGuard<'static, ()>>,
    sqlite: bool,
}

impl std::ops::Deref for WriteTxn {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        self.txn
            .as_ref()
            .expect("a write transaction is open until it ends")
    }
}

impl WriteTxn {
    /// Rolls back (on SQLite, settles: see above) before the write turn is released.
    pub async fn rollback(mut self) -> Result<(), DbErr> {
        let txn = self.txn.take().expect("ended once");
        if !self.sqlite {
            return txn.rollback().await;
        }
        settle(txn).await;
        Ok(())
    }

    pub async fn commit(mut self) -> Result<(), DbErr> {
        let txn = self.txn.take().expect("committed once");
        if !self.sqlite {
            return txn.commit().await;
        }
        match txn.execute_unprepared("COMMIT").await {
            // Committed: give sqlx an empty transaction of its own to close.
            Ok(_) => match txn.execute_unprepared("BEGIN").await {
                Ok(_) => txn.commit().await,
                Err(e) => {
                    settle(txn).await;
                    Err(e)
                }
            },
            Err(e) => {
                settle(txn).await;
                Err(e)
            }
        }
    }
}

/// Leaves a SQLite connection outside any transaction, with sqlx agreeing.
async fn settle(txn: DatabaseTransaction) {
    // Fails harmlessly when SQLite already rolled back by itself.
    let _ = txn.execute_unprepared("ROLLBACK").await;
    match txn.execute_unprepared("BEGIN").await {
        Ok(_) => {
            if let Err(e) = txn.rollback().await {
                tracing::error!(error = %e, "could not settle a SQLite transaction");
            }
        }
        Err(e) => tracing::error!(error = %e, "could not settle a SQLite transaction"),
    }
}

impl Drop for WriteTxn {
    fn drop(&mut self) {
        let Some(txn) = self.txn.take() else {
            return;
        };
        if !self.sqlite {
            return; // sqlx rolls a PostgreSQL transaction back on its own
        }
        let turn = self.turn.take();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                settle(txn).await;
                drop(turn);
            });
        }
    }
}

/// Begins a transaction that writes: on SQLite it waits for this process's write turn
/// and takes the write lock at once (`BEGIN IMMEDIATE`), so that it never fails on a
/// lock upgrade; other processes (the CLI) are waited for by the busy timeout.
pub async fn begin_write(db: &DatabaseConnection) -> Result<WriteTxn, DbErr> {
    let sqlite = db.get_database_backend() == DbBackend::Sqlite;
    let turn = match sqlite {
        true => Some(SQLITE_WRITE_GATE.lock().await),
        false => None,
    };
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    Ok(WriteTxn {
        txn: Some(txn),
        turn,
        sqlite,
    })
}

/// A write transaction whose commit need not wait for the disk (see `connect_processor`).
pub async fn begin_relaxed(db: &DatabaseConnection) -> Result<WriteTxn, DbErr> {
    let txn = begin_write(db).await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared("SET LOCAL synchronous_commit TO OFF")
            .await?;
    }
    Ok(txn)
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Writes and commits one row: what `/ready` asks of storage (a full disk, or a
/// database locked by another session, fails it).
pub async fn probe_write(db: &DatabaseConnection) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let now = crate::clock::now_ms();
    let (update, insert) = match backend {
        DbBackend::Postgres => (
            "UPDATE ready_probe SET at = $1 WHERE id = 1",
            "INSERT INTO ready_probe (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
        ),
        _ => (
            "UPDATE ready_probe SET at = ? WHERE id = 1",
            "INSERT INTO ready_probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
        ),
    };
    let txn = begin_write(db).await?;
    let updated = txn
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            update,
            [now.into()],
        ))
        .await?
        .rows_affected();
    if updated == 0 {
        txn.execute_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            insert,
            [now.into()],
        ))
        .await?;
    }
    txn.commit().await
}

/// True when the database answers and every migration is applied.
pub async fn ready(db: &DatabaseConnection) -> Result<bool, DbErr> {
    db.execute_unprepared("SELECT 1").await?;
    Ok(Migrator::get_pending_migrations(db).await?.is_empty())
}

/// Opens the database and applies pending migrations, naming the setting on failure.
pub async fn open_migrated(config: &Config) -> anyhow::Result<DatabaseConnection> {
    use anyhow::Context;
    let db = connect(config)
        .await
        .context("DATABASE_URL: cannot open the database")?;
    migrate(&db)
        .await
        .context("DATABASE_URL: cannot apply migrations")?;
    Ok(db)
}

/// Whether `e` says the database is unavailable for now (gone, full, locked, busy,
/// timed out: 503, and the caller retries) rather than that a statement is wrong
/// (a constraint violated, a type that does not decode: a bug, 500). An error the
/// gateway made itself (`DbErr::Custom`) counts as unavailable.
pub fn is_unavailable(e: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) | DbErr::Custom(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            sqlx_unavailable(e)
        }
        DbErr::Exec(RuntimeErr::Internal(_)) | DbErr::Query(RuntimeErr::Internal(_)) => true,
        _ => false,
    }
}

fn sqlx_unavailable(e: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error as E;
    match e {
        E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => true,
        E::Protocol(_) => true,
        E::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            match code.parse::<u32>() {
                // SQLite (the primary code is the low byte): busy, locked, I/O error,
                // corrupt, full, cannot open, protocol, read-only database.
                Ok(n) => matches!(n & 0xff, 5 | 6 | 8 | 10 | 11 | 13 | 14 | 15),
                // PostgreSQL: connection (08), serialization and deadlock (40001,
                // 40P01), insufficient resources (53), operator intervention (57:
                // cancelled by a timeout, shutting down), lock not available (55P03),
                // system errors (58).
                Err(_) => {
                    ["08", "53", "57", "58"].iter().any(|c| code.starts_with(c))
                        || matches!(code.as_str(), "40001" | "40P01" | "55P03" | "55006")
                }
            }
        }
        _ => false,
    }
}
