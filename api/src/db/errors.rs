//! Which storage errors mean "unavailable for now" (503) and which a bug (500).

use sea_orm::DbErr;

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
            // PostgreSQL's codes are five characters, most of them digits (22021 is a
            // bad character, not SQLite's "busy" in its low byte): ask which it is.
            let postgres = db
                .try_downcast_ref::<sea_orm::sqlx::postgres::PgDatabaseError>()
                .is_some();
            if postgres {
                // Connection (08), serialization and deadlock (40001, 40P01),
                // insufficient resources (53), operator intervention (57: cancelled by
                // a timeout, shutting down), lock not available (55P03, 55006), system
                // errors (58).
                ["08", "53", "57", "58"].iter().any(|c| code.starts_with(c))
                    || matches!(code.as_str(), "40001" | "40P01" | "55P03" | "55006")
            } else {
                // SQLite (the primary code is the low byte): busy, locked, I/O error,
                // corrupt, full, cannot open, protocol, read-only database.
                code.parse::<u32>()
                    .is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 8 | 10 | 11 | 13 | 14 | 15))
            }
        }
        _ => false,
    }
}
