//! The database: opening it with the settings each backend needs, migrating it,
//! and the one seam where SQLite and PostgreSQL differ (`Dialect`). Code above `db`
//! never names a backend.

mod announce;
mod dialect;
mod errors;
mod txn;

pub use announce::{Announcements, Listener, Pending, announce, announce_after, listen, unpack};
pub use dialect::{Dialect, pair_arrays};
pub use errors::is_unavailable;
pub use txn::{WriteTxn, begin_relaxed, begin_write};

use crate::config::Config;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};
use std::time::Duration;

/// Opens a pool. SQLite runs in WAL mode with a full fsync at every commit; its writers
/// take the write lock when they begin (`begin_write`) and queue on it. Nothing waits
/// longer than `STORAGE_TIMEOUT_MS` for a connection, for SQLite's lock, or (on
/// PostgreSQL) for a table another session has locked: past that, the caller gets an
/// error and answers 503, rather than hanging.
///
/// With `DATABASE_DIRECT_URL` set, `DATABASE_URL` leads to a transaction pooler
/// (PgBouncer): the pool then names no prepared statement and sends no startup
/// option (the pooler hands each transaction to any server session), and each write
/// transaction sets its lock wait itself (`begin_write`).
pub async fn connect(config: &Config) -> Result<DatabaseConnection, DbErr> {
    let session = match config.database_direct_url {
        Some(_) => Session::Pooled,
        None => Session::Own(&[]),
    };
    open_settings(
        &config.database_url,
        config.database_max_connections,
        true,
        config.storage_timeout,
        session,
    )
    .await
}

/// Where a connection that needs a session of its own goes: `DATABASE_DIRECT_URL`
/// when set, else `DATABASE_URL`.
pub fn session_url(config: &Config) -> &str {
    config
        .database_direct_url
        .as_deref()
        .unwrap_or(&config.database_url)
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
    if Dialect::of(main) != Dialect::Sqlite || sqlite_file(&config.database_url).is_none() {
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
    if Dialect::of(main) != Dialect::Postgres {
        return Ok(main.clone());
    }
    open_settings(
        session_url(config),
        config.processing.inbox_writers as u32 + 1,
        true,
        config.storage_timeout,
        Session::Own(&[("plan_cache_mode", "force_generic_plan")]),
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
    open_settings(url, max_connections, full_sync, wait, Session::Own(&[])).await
}

/// The lock wait of the pool behind a transaction pooler, which its write transactions
/// set themselves (`SET LOCAL`): its sessions cannot start with it.
static POOLED_WAIT: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();

/// `Some(wait)` when `db` is the pool behind a transaction pooler: the one pool whose
/// connections start without the lock wait among their options.
fn pooled_wait(db: &DatabaseConnection) -> Option<Duration> {
    let wait = POOLED_WAIT.get()?;
    let options = db.get_postgres_connection_pool().connect_options();
    options.get_options().is_none().then_some(*wait)
}

/// What a PostgreSQL connection of a pool may count on.
#[derive(Clone, Copy)]
enum Session {
    /// A server session of its own, which starts with the lock wait and these settings.
    Own(&'static [(&'static str, &'static str)]),
    /// Any server session, transaction by transaction (behind a transaction pooler).
    Pooled,
}

/// The one line start-up stops with when `DATABASE_URL` leads to a pooler that drops
/// or refuses session settings.
const POOLER: &str = "DATABASE_URL leads to a connection pooler (PgBouncer in transaction mode?) \
    that does not keep session settings: set DATABASE_DIRECT_URL to the PostgreSQL server \
    itself (docs/scaling.md)";

/// `open`, on PostgreSQL with sessions as `session` says.
async fn open_settings(
    url: &str,
    max_connections: u32,
    full_sync: bool,
    wait: Duration,
    session: Session,
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
        .map_sqlx_postgres_opts(move |opts| match session {
            Session::Own(settings) => opts
                .options([("lock_timeout", format!("{}ms", wait.as_millis()))])
                .options(settings.iter().map(|&(k, v)| (k, v))),
            // PgBouncer refuses this startup parameter too; floats are not stored.
            Session::Pooled => opts.statement_cache_capacity(0).extra_float_digits(None),
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
    let db = Database::connect(options).await.map_err(|e| {
        // PgBouncer refuses the startup options unless told to ignore them.
        match e.to_string().contains("unsupported startup parameter") {
            true => DbErr::Custom(POOLER.into()),
            false => e,
        }
    })?;
    if let Session::Pooled = session {
        let _ = POOLED_WAIT.set(wait);
    }
    if Dialect::of(&db) == Dialect::Postgres && matches!(session, Session::Own(_)) {
        // A pooler told to ignore them lets the options through unread, and mixes the
        // sessions' prepared statements up.
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT current_setting('lock_timeout') AS wait",
            ))
            .await
            .map_err(|e| match e.to_string().contains("prepared statement") {
                true => DbErr::Custom(POOLER.into()),
                false => e,
            })?;
        let wait: String = row.map_or(Ok(String::new()), |r| r.try_get("", "wait"))?;
        if wait == "0" {
            return Err(DbErr::Custom(POOLER.into()));
        }
    } else {
        db.execute_unprepared("SELECT 1").await?;
    }
    Ok(db)
}

fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && !path.starts_with(":memory:")).then_some(path)
}

/// The PostgreSQL advisory lock every migrating process takes first ("gatemigr").
const MIGRATION_LOCK: i64 = 0x6761_7465_6d69_6772;

/// Applies pending migrations. On PostgreSQL under an advisory lock held by a session of
/// its own: replicas (or `gateway migrate`s) started at once on an empty database take
/// turns, and each that comes after finds nothing left to do, instead of two of them
/// making the same table and one failing (sea-orm-migration takes no lock). The lock
/// ends with its session, so a migrator that dies frees it.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    if Dialect::of(db) != Dialect::Postgres {
        return Migrator::up(db, None).await;
    }
    use sea_orm::sqlx::{Connection, postgres::PgConnection};
    let options = db.get_postgres_connection_pool().connect_options();
    let mut lock = PgConnection::connect_with(&options)
        .await
        .map_err(|e| DbErr::Custom(format!("opening the migration lock's session: {e}")))?;
    let lock_error = |e: sea_orm::sqlx::Error| DbErr::Custom(format!("the migration lock: {e}"));
    sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut lock)
        .await
        .map_err(lock_error)?;
    let migrated = Migrator::up(db, None).await;
    let released = sea_orm::sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut lock)
        .await
        .map_err(lock_error);
    let _ = lock.close().await;
    migrated.and(released.map(|_| ()))
}

/// Writes and commits one row: what `/ready` asks of storage (a full disk, or a
/// database locked by another session, fails it).
pub async fn probe_write(db: &DatabaseConnection) -> Result<(), DbErr> {
    let dialect = Dialect::of(db);
    let now = crate::clock::now_ms();
    let txn = begin_write(db).await?;
    let updated = txn
        .execute_raw(dialect.statement("UPDATE ready_probe SET at = $1 WHERE id = 1", [now.into()]))
        .await?
        .rows_affected();
    if updated == 0 {
        txn.execute_raw(dialect.statement(
            "INSERT INTO ready_probe (id, at) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET at = excluded.at",
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
/// Behind a pooler the migrations run on a session of their own
/// (`DATABASE_DIRECT_URL`): the lock and the DDL's transactions need one.
pub async fn open_migrated(config: &Config) -> anyhow::Result<DatabaseConnection> {
    use anyhow::Context;
    let db = connect(config).await.map_err(|e| match e {
        DbErr::Custom(line) if line == POOLER => anyhow::anyhow!(line),
        e => anyhow::Error::new(e).context("DATABASE_URL: cannot open the database"),
    })?;
    let Some(direct) = &config.database_direct_url else {
        migrate(&db)
            .await
            .context("DATABASE_URL: cannot apply migrations")?;
        return Ok(db);
    };
    let session = open(direct, 1, true, config.storage_timeout)
        .await
        .context("DATABASE_DIRECT_URL: cannot open the database")?;
    let migrated = migrate(&session).await;
    session.close().await.ok();
    migrated.context("DATABASE_DIRECT_URL: cannot apply migrations")?;
    Ok(db)
}
