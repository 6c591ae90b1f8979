//! Telling other replicas of a committed change, through the database itself: on
//! PostgreSQL `pg_notify` in the changing transaction (delivered at commit) and a
//! `LISTEN` connection of its own; on SQLite there is no one else to tell.

use super::Dialect;
use sea_orm::{ConnectionTrait, DbErr};

/// Announces `payloads` on `channel` when the transaction `db` commits (one statement
/// for all of them); nothing where the database does not announce.
pub async fn announce<C: ConnectionTrait>(
    db: &C,
    channel: &str,
    payloads: &[String],
) -> Result<(), DbErr> {
    let dialect = Dialect::of(db);
    if !dialect.announces() || payloads.is_empty() {
        return Ok(());
    }
    let payloads = serde_json::to_string(payloads)
        .map_err(|e| DbErr::Custom(format!("announcements as JSON: {e}")))?;
    db.execute_raw(dialect.statement(
        "SELECT pg_notify($1, p) FROM json_array_elements_text($2::json) AS p",
        [channel.into(), payloads.into()],
    ))
    .await?;
    Ok(())
}

/// A connection that hears announcements on some channels.
pub struct Listener(sea_orm::sqlx::postgres::PgListener);

/// Listens on `channels` over a connection of its own to `url` (a PostgreSQL URL).
pub async fn listen(url: &str, channels: &[&str]) -> Result<Listener, String> {
    use sea_orm::sqlx::postgres::PgListener;
    let mut listener = PgListener::connect(url).await.map_err(|e| e.to_string())?;
    listener
        .listen_all(channels.iter().copied())
        .await
        .map_err(|e| e.to_string())?;
    Ok(Listener(listener))
}

impl Listener {
    /// The next announcement as (channel, payload); `None` once the connection is lost
    /// (announcements made meanwhile were missed).
    pub async fn next(&mut self) -> Option<(String, String)> {
        match self.0.try_recv().await {
            Ok(Some(note)) => Some((note.channel().to_owned(), note.payload().to_owned())),
            Ok(None) | Err(_) => None,
        }
    }
}
