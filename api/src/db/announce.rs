//! Telling other replicas of a committed change, through the database itself: on
//! PostgreSQL `pg_notify` in the changing transaction (delivered at commit) and a
//! `LISTEN` connection of its own; on SQLite there is no one else to tell.

use super::Dialect;
use sea_orm::{ConnectionTrait, DbErr};

/// The longest announcement PostgreSQL takes is 7,999 bytes; packed ones stay below.
const PACKED: usize = 7_900;

/// `items` (none holding a line break) as few announcements as fit: one item a line.
/// Each announcement costs PostgreSQL and every listening replica the same whatever
/// it holds, so a group's changes go as one instead of one an order.
pub fn pack(items: &[String]) -> Vec<String> {
    let mut packed: Vec<String> = Vec::new();
    for item in items {
        match packed.last_mut() {
            Some(last) if last.len() + 1 + item.len() <= PACKED => {
                last.push('\n');
                last.push_str(item);
            }
            _ => packed.push(item.clone()),
        }
    }
    packed
}

/// What `pack` packed.
pub fn unpack(payload: &str) -> impl Iterator<Item = &str> {
    payload.split('\n').filter(|item| !item.is_empty())
}

/// Announces `items` on `channel` when the transaction `db` commits (packed: see
/// `pack`; one statement for all of them); nothing where the database does not
/// announce.
pub async fn announce<C: ConnectionTrait>(
    db: &C,
    channel: &str,
    items: &[String],
) -> Result<(), DbErr> {
    let dialect = Dialect::of(db);
    if !dialect.announces() || items.is_empty() {
        return Ok(());
    }
    db.execute_raw(dialect.statement(NOTIFY, [channel.into(), packed_json(items)?.into()]))
        .await?;
    Ok(())
}

/// Announces on `$1` each announcement of the JSON array `$2`.
const NOTIFY: &str = "SELECT pg_notify($1, p) FROM json_array_elements_text($2::json) AS p";

fn packed_json(items: &[String]) -> Result<String, DbErr> {
    serde_json::to_string(&pack(items))
        .map_err(|e| DbErr::Custom(format!("announcements as JSON: {e}")))
}

/// Where the inbox's writers leave order ids to announce after their commits (see
/// `announce_after`); a full queue drops them (the announcement is a hint: other
/// replicas' cached statuses expire within a second anyway).
#[derive(Clone)]
pub struct Announcements {
    tx: tokio::sync::mpsc::Sender<String>,
}

/// The ids left to announce, for `announce_after`.
pub type Pending = std::sync::Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<String>>>;

/// How many ids may wait to be announced.
const PENDING: usize = 65_536;

impl Announcements {
    pub fn new() -> (Self, Pending) {
        let (tx, rx) = tokio::sync::mpsc::channel(PENDING);
        (
            Self { tx },
            std::sync::Arc::new(tokio::sync::Mutex::new(rx)),
        )
    }

    pub fn push(&self, order_ids: &[String]) {
        for id in order_ids {
            if self.tx.try_send(id.clone()).is_err() {
                tracing::debug!("announcements queue full; an order change is not announced");
                return;
            }
        }
    }
}

/// Announces on `channel`, over a connection of its own to `url`, whatever was left in
/// `pending` since its last statement (packed: see `pack`): one autocommit statement a
/// turn, whose commit does not wait for the disk (an announcement is not data).
/// Announcing in the
/// changing transaction instead makes its commit take PostgreSQL's lock for
/// announcements, which makes every announcing transaction's commit — its disk wait
/// included — wait for the one before: the inbox's groups could not overlap their
/// commits (`docs/benchmarks.md`). Returns when the connection fails (supervised: it
/// is started again; what it was announcing is lost, see `Announcements`).
pub async fn announce_after(url: String, channel: &'static str, pending: Pending) {
    use sea_orm::sqlx::{Connection, Executor, postgres::PgConnection};
    let mut connection = match PgConnection::connect(&url).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot connect to announce changes");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            return;
        }
    };
    if let Err(e) = connection.execute("SET synchronous_commit = off").await {
        tracing::warn!(error = %e, "cannot set up the announcing connection");
        return;
    }
    let mut pending = pending.lock().await;
    let mut batch = Vec::with_capacity(1024);
    while pending.recv_many(&mut batch, 1024).await > 0 {
        batch.sort();
        batch.dedup();
        let sent = match packed_json(&batch) {
            Ok(payloads) => sea_orm::sqlx::query(NOTIFY)
                .bind(channel)
                .bind(payloads)
                .execute(&mut connection)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        batch.clear();
        if let Err(e) = sent {
            tracing::warn!(error = %e, "announcing order changes failed; connecting again");
            return;
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_items_come_back_whole_and_in_order_in_announcements_postgres_takes() {
        let items: Vec<String> = (0..1000).map(|n| format!("ord_{n:020}")).collect();
        let packed = pack(&items);
        assert!(packed.len() > 1, "1000 ids of 24 bytes need more than one");
        assert!(packed.iter().all(|p| p.len() < 8000));
        let back: Vec<&str> = packed.iter().flat_map(|p| unpack(p)).collect();
        assert_eq!(back, items.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(pack(&["one".to_string()]), vec!["one".to_string()]);
        assert!(pack(&[]).is_empty());
    }
}
