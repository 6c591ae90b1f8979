//! Write transactions: on SQLite one writer at a time per process, settled by hand
//! when a statement fails; on PostgreSQL, sqlx's own.

use super::Dialect;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};

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
/// lock upgrade; other processes (the CLI) are waited for by the busy timeout. Behind
/// a transaction pooler the transaction sets its own lock wait (`super::pooled_wait`).
pub async fn begin_write(db: &DatabaseConnection) -> Result<WriteTxn, DbErr> {
    begin(db, false).await
}

/// A write transaction whose commit need not wait for the disk (see `connect_processor`).
pub async fn begin_relaxed(db: &DatabaseConnection) -> Result<WriteTxn, DbErr> {
    begin(db, true).await
}

async fn begin(db: &DatabaseConnection, relaxed: bool) -> Result<WriteTxn, DbErr> {
    let sqlite = Dialect::of(db) == Dialect::Sqlite;
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
    let txn = WriteTxn {
        txn: Some(txn),
        turn,
        sqlite,
    };
    if !sqlite {
        let mut settings = String::new();
        if relaxed {
            settings.push_str("SET LOCAL synchronous_commit TO OFF;");
        }
        if let Some(wait) = super::pooled_wait(db) {
            settings.push_str(&format!("SET LOCAL lock_timeout = {};", wait.as_millis()));
        }
        if !settings.is_empty() {
            txn.execute_unprepared(&settings).await?;
        }
    }
    Ok(txn)
}
