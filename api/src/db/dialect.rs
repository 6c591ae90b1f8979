//! What differs between SQLite and PostgreSQL, asked of one type. Nothing outside
//! `db/` names a backend: code above asks a `Dialect` what the database can do
//! (`arrays`, `announces`) and writes one statement text for both (`statement`:
//! parameters are `$1`, `$2`, …, which SQLite reads as numbered parameters too).

use sea_orm::StatementBuilder;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

/// The database behind a connection, as far as the gateway's statements care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn of<C: ConnectionTrait + ?Sized>(db: &C) -> Self {
        match db.get_database_backend() {
            DbBackend::Postgres => Self::Postgres,
            // MySQL is not built; anything else is the embedded default.
            _ => Self::Sqlite,
        }
    }

    /// Whether a database URL names PostgreSQL (before anything is opened).
    pub fn of_url(url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::Postgres
        } else {
            Self::Sqlite
        }
    }

    fn backend(self) -> DbBackend {
        match self {
            Self::Sqlite => DbBackend::Sqlite,
            Self::Postgres => DbBackend::Postgres,
        }
    }

    /// A statement of `sql` (parameters `$1`, `$2`, …) with its values.
    pub fn statement(
        self,
        sql: impl Into<String>,
        values: impl IntoIterator<Item = Value>,
    ) -> Statement {
        Statement::from_sql_and_values(self.backend(), sql, values)
    }

    /// A query built with sea-query, written in this dialect.
    pub fn build<S: StatementBuilder>(self, query: &S) -> Statement {
        self.backend().build(query)
    }

    /// Whether a statement can take a whole array as one parameter (`unnest($1::int8[])`):
    /// the write path's statements of fixed text, prepared once per connection, rely on
    /// it (PostgreSQL). Without it (SQLite, in-process: text costs little to parse),
    /// statements list their values.
    pub fn arrays(self) -> bool {
        self == Self::Postgres
    }

    /// Whether a committed change can be announced to other processes through the
    /// database (`pg_notify`, heard by `db::listen`). SQLite has one process that
    /// writes, so there is no one else to tell.
    pub fn announces(self) -> bool {
        self == Self::Postgres
    }

    /// The words that make SQLite read `table` through `index` (it has no statistics
    /// and may otherwise scan a covering index of the whole table); nothing on
    /// PostgreSQL, whose planner knows.
    pub fn index_hint(self, index: &str) -> String {
        match self {
            Self::Sqlite => format!("INDEXED BY {index}"),
            Self::Postgres => String::new(),
        }
    }
}

/// `(tenant, key)` pairs as the two PostgreSQL arrays `unnest($1::int8[], $2::text[])`
/// reads back as rows: how the fixed statements of the write path take a group's keys.
/// (The planner takes an array parameter for about ten rows, so it probes indexes; a
/// JSON `json_to_recordset` counts as a hundred and made it scan payments instead.)
pub fn pair_arrays<'a>(pairs: impl Iterator<Item = (i64, &'a str)>) -> [Value; 2] {
    let (tenants, keys): (Vec<i64>, Vec<String>) = pairs.map(|(t, k)| (t, k.to_string())).unzip();
    [tenants.into(), keys.into()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_dialect() {
        assert_eq!(Dialect::of_url("postgres://u@h/db"), Dialect::Postgres);
        assert_eq!(Dialect::of_url("postgresql://u@h/db"), Dialect::Postgres);
        assert_eq!(
            Dialect::of_url("sqlite://./data/g.db?mode=rwc"),
            Dialect::Sqlite
        );
    }

    #[test]
    fn only_sqlite_is_told_which_index_to_read() {
        assert_eq!(Dialect::Sqlite.index_hint("ix"), "INDEXED BY ix");
        assert_eq!(Dialect::Postgres.index_hint("ix"), "");
    }
}
