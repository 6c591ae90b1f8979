//! Opening the database, with the settings each backend needs.

use crate::config::Config;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use std::time::Duration;

/// Opens a pool. SQLite runs in WAL mode with a full fsync at every commit; its writers
/// take the write lock when they begin (`begin_write`) and queue on it.
pub async fn connect(config: &Config) -> Result<DatabaseConnection, DbErr> {
    connect_url(&config.database_url, config.database_max_connections).await
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
    open(&config.database_url, 1, false).await
}

pub async fn connect_url(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    open(url, max_connections, true).await
}

async fn open(
    url: &str,
    max_connections: u32,
    full_sync: bool,
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
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(if full_sync {
                    sea_orm::sqlx::sqlite::SqliteSynchronous::Full
                } else {
                    sea_orm::sqlx::sqlite::SqliteSynchronous::Normal
                })
                .busy_timeout(Duration::from_secs(5))
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

/// One writer at a time per process on SQLite: writers queue here, in order, instead
/// of in SQLite's busy handler, which sleeps in steps of up to 100 ms.
static SQLITE_WRITE_GATE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A write transaction; on SQLite it also holds this process's write turn.
pub struct WriteTxn {
    txn: DatabaseTransaction,
    _turn: Option<tokio::sync::MutexGuard<'static, ()>>,
}

impl std::ops::Deref for WriteTxn {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

impl WriteTxn {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }
}

/// Begins a transaction that writes: on SQLite it waits for this process's write turn
/// and takes the write lock at once (`BEGIN IMMEDIATE`), so that it never fails on a
/// lock upgrade; other processes (the CLI) are waited for by the busy timeout.
pub async fn begin_write(db: &DatabaseConnection) -> Result<WriteTxn, DbErr> {
    let turn = match db.get_database_backend() {
        DbBackend::Sqlite => Some(SQLITE_WRITE_GATE.lock().await),
        _ => None,
    };
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    Ok(WriteTxn { txn, _turn: turn })
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
