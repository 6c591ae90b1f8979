//! The webhook event log: every row of `webhook_event` and every change of its status
//! goes through here.
//!
//! ```text
//! verified ─▶ PROCESSING ─▶ COMPLETED
//!                  │  ▲
//!                  ▼  │ (admin retry)
//!                 FAILED
//! rejected ─▶ VERIFICATION_FAILED | NO_CONFIG | FAILED (not an event)
//! ```
//! Every query of one tenant's log is scoped by its tenant id.

use crate::clock::now_ms;
use crate::stripe::event::EventFacts;
use entity::webhook_event::{self, Column};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select, Set, Statement,
};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

/// The status of a delivery in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventStatus {
    /// Verified and stored; being applied (or waiting for a retry).
    Processing,
    Completed,
    /// Applying failed every attempt, or the verified body is not an event.
    Failed,
    VerificationFailed,
    NoConfig,
}

impl EventStatus {
    pub const ALL: [EventStatus; 5] = [
        Self::Processing,
        Self::Completed,
        Self::Failed,
        Self::VerificationFailed,
        Self::NoConfig,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processing => "PROCESSING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::VerificationFailed => "VERIFICATION_FAILED",
            Self::NoConfig => "NO_CONFIG",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// How an event reached the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Delivered by Stripe to the webhook URL, signature verified.
    Webhook,
    /// Fetched from Stripe's API with the tenant's key (Stripe could not deliver it).
    Recovered,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Recovered => "recovered",
        }
    }
}

/// A verified event, to be stored `PROCESSING` unless the tenant already has it.
#[derive(Debug)]
pub struct Verified {
    pub tenant_id: i64,
    pub tenant_slug: String,
    pub payload: String,
    pub facts: EventFacts,
    pub source: Source,
    /// The delivery's span (tenant, delivery id, event id): what the inbox writer logs
    /// of this event is logged in it, so a delivery can be followed through the log.
    pub span: tracing::Span,
}

/// A delivery that will not be processed: unverified, unknown tenant, or not an event.
#[derive(Debug)]
pub struct Rejected {
    pub tenant_id: Option<i64>,
    pub tenant_slug: String,
    pub status: EventStatus,
    pub stripe_event_id: Option<String>,
    pub event_type: Option<String>,
    pub error: String,
    /// The reason as a code (`VerifyError::code`, `no_config`, `invalid_payload`).
    pub error_code: &'static str,
    /// Only for verified bodies.
    pub payload: Option<String>,
    /// The other tenant whose secret this delivery verifies with, if one does.
    pub signed_for_tenant_id: Option<i64>,
}

/// Text as PostgreSQL can store it (no NUL).
fn storable(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{fffd}")
    } else {
        text
    }
}

/// Which of the `(tenant, event id)` pairs of two arrays are stored, on PostgreSQL.
#[doc(hidden)]
pub const STORED_PROBE: &str = "SELECT x.tenant_id, x.dedup_key \
     FROM unnest($1::int8[], $2::text[]) AS w(t, k), \
     LATERAL (SELECT e.tenant_id, e.dedup_key FROM webhook_event e \
       WHERE e.dedup_key = w.k OFFSET 0) x WHERE x.tenant_id = w.t";

/// The (tenant, event id) pairs of `group` that are stored already.
pub async fn already_stored<C: ConnectionTrait>(
    db: &C,
    group: &[&Verified],
) -> Result<HashSet<(i64, String)>, DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        // Exact (tenant, event id) pairs, in one statement whose text never changes
        // (parsed once per connection), each pair one probe of the unique index, kept
        // so by the `LATERAL … OFFSET 0` however small the table was when a cached plan
        // was made (see `orders::apply::lock_orders`), by the event id alone (the index
        // leads with it; the tenant is compared outside). Two `IN` lists let PostgreSQL
        // read by the tenant prefix alone.
        let pairs = group
            .iter()
            .map(|e| (e.tenant_id, e.facts.event_id.as_str()));
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            STORED_PROBE,
            crate::db::pair_arrays(pairs),
        );
        let mut found = HashSet::new();
        for row in db.query_all_raw(statement).await? {
            found.insert((row.try_get("", "tenant_id")?, row.try_get("", "dedup_key")?));
        }
        return Ok(found);
    }
    // The group's tenants and event ids in two conditions (not one per tenant); only
    // exact (tenant, event id) pairs of the group are asked about by the caller.
    let tenants: BTreeSet<i64> = group.iter().map(|e| e.tenant_id).collect();
    let ids: BTreeSet<&str> = group.iter().map(|e| e.facts.event_id.as_str()).collect();
    let condition = Condition::all()
        .add(Column::TenantId.is_in(tenants))
        .add(Column::DedupKey.is_in(ids));
    let found: Vec<(Option<i64>, Option<String>)> = webhook_event::Entity::find()
        .select_only()
        .columns([Column::TenantId, Column::DedupKey])
        .filter(condition)
        .into_tuple()
        .all(db)
        .await?;
    Ok(found
        .into_iter()
        .filter_map(|(tenant_id, key)| Some((tenant_id?, key?)))
        .collect())
}

/// How a verified event is stored: applied already (in the storing transaction), or
/// `PROCESSING` for the processor.
#[derive(Debug, Clone)]
pub enum Settled {
    Processing,
    Completed {
        outcome: &'static str,
        order_id: Option<String>,
    },
}

/// What a verified event's row says of its processing.
struct Progress<'a> {
    status: EventStatus,
    outcome: Option<&'static str>,
    order_id: Option<&'a str>,
    attempts: i32,
    processed_at: Option<i64>,
    next_attempt_at: Option<i64>,
}

fn progress(settled: &Settled, lease: Duration, now: i64) -> Progress<'_> {
    match settled {
        Settled::Processing => Progress {
            status: EventStatus::Processing,
            outcome: None,
            order_id: None,
            attempts: 0,
            processed_at: None,
            next_attempt_at: Some(now + lease.as_millis() as i64),
        },
        Settled::Completed { outcome, order_id } => Progress {
            status: EventStatus::Completed,
            outcome: Some(outcome),
            order_id: order_id.as_deref(),
            attempts: 1,
            processed_at: Some(now),
            next_attempt_at: None,
        },
    }
}

/// The insert as one multi-row VALUES statement (SQLite, in-process: its text costs
/// little to parse).
fn insert_as_values(
    group: &[(&Verified, Settled)],
    lease: Duration,
    now: i64,
    backend: DbBackend,
) -> Statement {
    let rows = group.iter().map(|(event, settled)| {
        let p = progress(settled, lease, now);
        webhook_event::ActiveModel {
            tenant_id: Set(Some(event.tenant_id)),
            tenant_slug: Set(event.tenant_slug.clone()),
            stripe_event_id: Set(Some(event.facts.event_id.clone())),
            dedup_key: Set(Some(event.facts.event_id.clone())),
            event_type: Set(Some(event.facts.event_type.clone())),
            status: Set(p.status.as_str().to_string()),
            outcome: Set(p.outcome.map(str::to_owned)),
            error: Set(None),
            attempts: Set(p.attempts),
            payload: Set(Some(event.payload.clone())),
            order_id: Set(p.order_id.map(str::to_owned)),
            received_at: Set(now),
            processed_at: Set(p.processed_at),
            next_attempt_at: Set(p.next_attempt_at),
            source: Set(event.source.as_str().to_string()),
            signed_for_tenant_id: Set(None),
            ..Default::default()
        }
    });
    // Only the columns that tell rows apart come back (not the payloads).
    let mut insert = webhook_event::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([Column::TenantId, Column::DedupKey])
                .do_nothing()
                .to_owned(),
        )
        .into_query();
    insert.returning(Query::returning().columns([Column::Id, Column::TenantId, Column::DedupKey]));
    backend.build(&insert)
}

/// The insert as one statement of fixed text (PostgreSQL): prepared once per
/// connection, so the server does not parse and plan a new statement of sixteen
/// parameters a row for every group. The rows' short fields go in one JSON parameter;
/// the payloads, most of the bytes, go in a text array beside it, paired by position,
/// so that neither side escapes nor lexes them as JSON.
///
/// No `ON CONFLICT`: the caller has just read which events are stored, so a conflict
/// can only come from another writer storing the same event meanwhile, and then the
/// unique index refuses the statement and the caller writes the group again. With
/// `ON CONFLICT DO NOTHING`, every row paid for that rare race: a probe of the unique
/// index before the insertion, and a speculative insertion confirmed afterwards.
fn insert_as_json(
    group: &[(&Verified, Settled)],
    lease: Duration,
    now: i64,
) -> Result<Statement, DbErr> {
    #[derive(serde::Serialize)]
    struct Row<'a> {
        tenant_id: i64,
        tenant_slug: &'a str,
        stripe_event_id: &'a str,
        dedup_key: &'a str,
        event_type: &'a str,
        status: &'static str,
        outcome: Option<&'a str>,
        attempts: i32,
        order_id: Option<&'a str>,
        received_at: i64,
        processed_at: Option<i64>,
        next_attempt_at: Option<i64>,
        source: &'static str,
    }
    let rows: Vec<Row> = group
        .iter()
        .map(|(event, settled)| {
            let p = progress(settled, lease, now);
            Row {
                tenant_id: event.tenant_id,
                tenant_slug: &event.tenant_slug,
                stripe_event_id: &event.facts.event_id,
                dedup_key: &event.facts.event_id,
                event_type: &event.facts.event_type,
                status: p.status.as_str(),
                outcome: p.outcome,
                attempts: p.attempts,
                order_id: p.order_id,
                received_at: now,
                processed_at: p.processed_at,
                next_attempt_at: p.next_attempt_at,
                source: event.source.as_str(),
            }
        })
        .collect();
    let rows = serde_json::to_string(&rows)
        .map_err(|e| DbErr::Custom(format!("event rows as JSON: {e}")))?;
    let payloads: Vec<String> = group.iter().map(|(e, _)| e.payload.clone()).collect();
    const SQL: &str = "INSERT INTO webhook_event (tenant_id, tenant_slug, stripe_event_id, \
        dedup_key, event_type, status, outcome, error, attempts, payload, order_id, \
        received_at, processed_at, next_attempt_at, source, signed_for_tenant_id) \
        SELECT tenant_id, tenant_slug, stripe_event_id, dedup_key, event_type, status, \
          outcome, error, attempts, b.body, order_id, received_at, processed_at, \
          next_attempt_at, source, signed_for_tenant_id \
        FROM json_populate_recordset(NULL::webhook_event, $1::json) WITH ORDINALITY AS r \
        JOIN unnest($2::text[]) WITH ORDINALITY AS b(body, n) ON b.n = r.ordinality \
        RETURNING id, tenant_id, dedup_key";
    Ok(Statement::from_sql_and_values(
        DbBackend::Postgres,
        SQL,
        [rows.into(), payloads.into()],
    ))
}

/// Inserts verified events (one row each; callers pass each event id once, and only
/// ids they found not stored). For each, the row id when it was inserted, or `None`
/// when the tenant had the event id already (SQLite). On PostgreSQL an event id stored
/// meanwhile by another writer fails the statement instead (see `is_stored_meanwhile`).
pub async fn insert_verified<C: ConnectionTrait>(
    db: &C,
    group: &[(&Verified, Settled)],
    lease: Duration,
    now: i64,
) -> Result<Vec<Option<i64>>, DbErr> {
    if group.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let statement = match backend {
        DbBackend::Postgres => insert_as_json(group, lease, now)?,
        _ => insert_as_values(group, lease, now, backend),
    };
    let mut inserted: HashMap<(i64, String), i64> = HashMap::new();
    for row in db.query_all_raw(statement).await? {
        let (id, tenant_id, key): (i64, i64, String) = (
            row.try_get("", "id")?,
            row.try_get("", "tenant_id")?,
            row.try_get("", "dedup_key")?,
        );
        inserted.insert((tenant_id, key), id);
    }
    Ok(group
        .iter()
        .map(|(event, _)| {
            inserted
                .get(&(event.tenant_id, event.facts.event_id.clone()))
                .copied()
        })
        .collect())
}

/// Whether storing failed because another writer stored one of the group's events
/// between the group's read of what is stored and its insert (PostgreSQL): the group
/// is to be written again, and that read then finds it.
pub fn is_stored_meanwhile(error: &DbErr) -> bool {
    matches!(
        error.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// Records rejected deliveries (never with an unverified body).
pub async fn insert_rejected(
    db: &DatabaseConnection,
    rejected: Vec<Rejected>,
) -> Result<(), DbErr> {
    let now = now_ms();
    let rows = rejected.into_iter().map(|r| webhook_event::ActiveModel {
        tenant_id: Set(r.tenant_id),
        // What an unverified request says is kept only cut and escaped.
        tenant_slug: Set(crate::untrusted::cut(&r.tenant_slug)),
        stripe_event_id: Set(r.stripe_event_id.as_deref().map(crate::untrusted::cut)),
        dedup_key: Set(None),
        event_type: Set(r.event_type.as_deref().map(crate::untrusted::cut)),
        status: Set(r.status.as_str().to_string()),
        outcome: Set(None),
        error: Set(Some(storable(r.error))),
        error_code: Set(Some(r.error_code.to_string())),
        attempts: Set(0),
        payload: Set(r.payload.map(storable)),
        order_id: Set(None),
        received_at: Set(now),
        processed_at: Set(Some(now)),
        next_attempt_at: Set(None),
        source: Set(Source::Webhook.as_str().to_string()),
        signed_for_tenant_id: Set(r.signed_for_tenant_id),
        ..Default::default()
    });
    let txn = crate::db::begin_write(db).await?;
    webhook_event::Entity::insert_many(rows)
        .exec_without_returning(&*txn)
        .await?;
    txn.commit().await
}

/// One applied event, for `mark_completed`.
#[derive(Debug, Clone)]
pub struct Completed {
    pub row_id: i64,
    pub attempts: i32,
    pub outcome: &'static str,
    pub order_id: Option<String>,
}

/// PROCESSING → COMPLETED, with what applying did, for a whole group in one statement
/// (a few hundred rows a statement). Guarded by status: a row another replica
/// completed first is left as it is.
pub async fn mark_completed<C: ConnectionTrait>(
    db: &C,
    done: &[Completed],
    now: i64,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    for chunk in done.chunks(250) {
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * 5 + 1);
        let mut param = |v: sea_orm::Value| {
            values.push(v);
            match backend {
                DbBackend::Postgres => format!("${}", values.len()),
                _ => format!("?{}", values.len()),
            }
        };
        let processed_at = param(now.into());
        let mut outcome = String::from("CASE id");
        let mut order_id = String::from("CASE id");
        let mut attempts = String::from("CASE id");
        let mut ids = Vec::with_capacity(chunk.len());
        for c in chunk {
            let id = param(c.row_id.into());
            outcome += &format!(" WHEN {id} THEN {}", param(c.outcome.into()));
            order_id += &format!(" WHEN {id} THEN {}", param(c.order_id.clone().into()));
            attempts += &format!(" WHEN {id} THEN {}", param(c.attempts.into()));
            ids.push(id);
        }
        let sql = format!(
            "UPDATE webhook_event SET status = 'COMPLETED', error = NULL, next_attempt_at = NULL, \
             processed_at = {processed_at}, outcome = {outcome} END, order_id = {order_id} END, \
             attempts = {attempts} END WHERE status = 'PROCESSING' AND id IN ({})",
            ids.join(", ")
        );
        db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
    }
    Ok(())
}

/// What to do after a failed attempt.
pub enum AfterFailure {
    /// Try again at this time (ms).
    RetryAt(i64),
    /// PROCESSING → FAILED.
    GiveUp,
}

/// Records a failed attempt of a PROCESSING event.
pub async fn record_failure(
    db: &DatabaseConnection,
    row_id: i64,
    attempts: i32,
    error: &str,
    next: AfterFailure,
) -> Result<(), DbErr> {
    let mut update = webhook_event::Entity::update_many()
        .col_expr(Column::Attempts, Expr::value(attempts))
        .col_expr(Column::Error, Expr::value(error))
        .filter(Column::Id.eq(row_id))
        .filter(Column::Status.eq(EventStatus::Processing.as_str()));
    update = match next {
        AfterFailure::RetryAt(due) => update.col_expr(Column::NextAttemptAt, Expr::value(due)),
        AfterFailure::GiveUp => update
            .col_expr(Column::Status, Expr::value(EventStatus::Failed.as_str()))
            .col_expr(Column::ProcessedAt, Expr::value(now_ms()))
            .col_expr(Column::NextAttemptAt, Expr::value(Option::<i64>::None)),
    };
    update.exec(db).await?;
    Ok(())
}

/// PROCESSING events whose lease ran out (crash, full queue, or a retry now due).
pub async fn due(
    db: &DatabaseConnection,
    now: i64,
    limit: u64,
) -> Result<Vec<webhook_event::Model>, DbErr> {
    webhook_event::Entity::find()
        // Written out, not bound: the due index holds only PROCESSING rows, and a plan
        // for a bound status could not use it.
        .filter(Expr::cust("webhook_event.status = 'PROCESSING'"))
        .filter(Column::NextAttemptAt.lte(now))
        .order_by_asc(Column::NextAttemptAt)
        .limit(limit)
        .all(db)
        .await
}

/// Takes a due event for `lease`: only one claimer (of any replica) wins it.
pub async fn claim(
    db: &DatabaseConnection,
    row: &webhook_event::Model,
    now: i64,
    lease: Duration,
) -> Result<bool, DbErr> {
    Ok(webhook_event::Entity::update_many()
        .col_expr(
            Column::NextAttemptAt,
            Expr::value(now + lease.as_millis() as i64),
        )
        .filter(Column::Id.eq(row.id))
        .filter(Column::Status.eq(EventStatus::Processing.as_str()))
        .filter(Column::NextAttemptAt.eq(row.next_attempt_at))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// A stored body that no longer parses as an event: FAILED with the reason.
pub async fn mark_unparseable(
    db: &DatabaseConnection,
    row_id: i64,
    error: &str,
) -> Result<(), DbErr> {
    webhook_event::Entity::update_many()
        .col_expr(Column::Status, Expr::value(EventStatus::Failed.as_str()))
        .col_expr(Column::Error, Expr::value(error))
        .col_expr(Column::ProcessedAt, Expr::value(now_ms()))
        .filter(Column::Id.eq(row_id))
        .exec(db)
        .await?;
    Ok(())
}

/// FAILED → PROCESSING with a fresh set of attempts; false when it was not FAILED.
pub async fn requeue_failed<C: ConnectionTrait>(
    db: &C,
    row_id: i64,
    lease: Duration,
) -> Result<bool, DbErr> {
    let lease_until = now_ms() + lease.as_millis() as i64;
    Ok(webhook_event::Entity::update_many()
        .col_expr(
            Column::Status,
            Expr::value(EventStatus::Processing.as_str()),
        )
        .col_expr(Column::Attempts, Expr::value(0))
        .col_expr(Column::NextAttemptAt, Expr::value(lease_until))
        .col_expr(Column::ProcessedAt, Expr::value(Option::<i64>::None))
        .filter(Column::Id.eq(row_id))
        .filter(Column::Status.eq(EventStatus::Failed.as_str()))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

// ---- reading the log ----

fn of_tenant(tenant_id: i64) -> Select<webhook_event::Entity> {
    webhook_event::Entity::find().filter(Column::TenantId.eq(tenant_id))
}

/// What a list of one tenant's log is narrowed to.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub status: Option<EventStatus>,
    pub event_type: Option<String>,
}

fn filtered(tenant_id: i64, filter: &Filter) -> Select<webhook_event::Entity> {
    let mut query = of_tenant(tenant_id);
    if let Some(s) = filter.status {
        query = query.filter(Column::Status.eq(s.as_str()));
    }
    if let Some(t) = &filter.event_type {
        query = query.filter(Column::EventType.eq(t.as_str()));
    }
    query
}

/// Newest first, `limit + 1` rows before row id `before`, without their payloads.
pub async fn list(
    db: &DatabaseConnection,
    tenant_id: i64,
    filter: &Filter,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<webhook_event::Model>, DbErr> {
    let mut query = filtered(tenant_id, filter);
    if let Some(before) = before {
        query = query.filter(Column::Id.lt(before));
    }
    // Only the listed columns: the payloads stay in the database.
    query
        .select_only()
        .columns([
            Column::Id,
            Column::TenantId,
            Column::TenantSlug,
            Column::StripeEventId,
            Column::DedupKey,
            Column::EventType,
            Column::Status,
            Column::Outcome,
            Column::Error,
            Column::Attempts,
            Column::OrderId,
            Column::ReceivedAt,
            Column::ProcessedAt,
            Column::NextAttemptAt,
            Column::Source,
            Column::SignedForTenantId,
        ])
        .column_as(Expr::cust("NULL"), "payload")
        .order_by_desc(Column::Id)
        .limit(limit + 1)
        .all(db)
        .await
}

/// One event of the tenant, with its payload.
pub async fn find(
    db: &DatabaseConnection,
    tenant_id: i64,
    row_id: i64,
) -> Result<Option<webhook_event::Model>, DbErr> {
    of_tenant(tenant_id)
        .filter(Column::Id.eq(row_id))
        .one(db)
        .await
}

/// The tenant's FAILED events of a type (any when `None`), oldest first.
pub async fn failed(
    db: &DatabaseConnection,
    tenant_id: i64,
    event_type: Option<String>,
    limit: u64,
) -> Result<Vec<webhook_event::Model>, DbErr> {
    let filter = Filter {
        status: Some(EventStatus::Failed),
        event_type,
    };
    filtered(tenant_id, &filter)
        .order_by_asc(Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Deliveries to slugs that match no tenant, newest first (`limit + 1` rows).
pub async fn unrouted(
    db: &DatabaseConnection,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<webhook_event::Model>, DbErr> {
    let mut query = webhook_event::Entity::find().filter(Column::TenantId.is_null());
    if let Some(before) = before {
        query = query.filter(Column::Id.lt(before));
    }
    query
        .order_by_desc(Column::Id)
        .limit(limit + 1)
        .all(db)
        .await
}

/// The tenant's latest delivery, of a status or of any.
pub async fn latest(
    db: &DatabaseConnection,
    tenant_id: i64,
    status: Option<EventStatus>,
) -> Result<Option<webhook_event::Model>, DbErr> {
    let filter = Filter {
        status,
        event_type: None,
    };
    filtered(tenant_id, &filter)
        .order_by_desc(Column::Id)
        .one(db)
        .await
}

/// How many of the tenant's events have been PROCESSING since before `received_before`.
pub async fn count_processing_since(
    db: &DatabaseConnection,
    tenant_id: i64,
    received_before: i64,
) -> Result<u64, DbErr> {
    of_tenant(tenant_id)
        .filter(Column::Status.eq(EventStatus::Processing.as_str()))
        .filter(Column::ReceivedAt.lt(received_before))
        .count(db)
        .await
}

/// Deliveries received since `since`, counted by clock hour (ms / 3,600,000) and status,
/// in one short range of the (tenant, received_at, status) index.
pub async fn counts_by_hour(
    db: &DatabaseConnection,
    tenant_id: i64,
    since: i64,
) -> Result<Vec<(i64, String, i64)>, DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT received_at / 3600000 AS hour, status, COUNT(*) AS n FROM webhook_event \
             WHERE tenant_id = $1 AND received_at >= $2 GROUP BY 1, 2"
        }
        _ => {
            "SELECT received_at / 3600000 AS hour, status, COUNT(*) AS n FROM webhook_event \
             WHERE tenant_id = ? AND received_at >= ? GROUP BY 1, 2"
        }
    };
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [tenant_id.into(), since.into()],
        ))
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok((
                row.try_get("", "hour")?,
                row.try_get("", "status")?,
                row.try_get("", "n")?,
            ))
        })
        .collect()
}

/// The tenants with an event that an error finding of the diagnosis is made of: a
/// delivery refused for its signature since `since`, an event `FAILED` or of the other
/// mode since `since`, or one `PROCESSING` since before `stuck_before`. Each arm reads
/// only a partial index's rows (their conditions are written as the indexes' are, so
/// that PostgreSQL's cached plans and SQLite's planner both see that they match;
/// SQLite, without statistics, would rather scan a covering index of the whole log
/// for the last arm, so it is told which index to use).
pub async fn tenants_in_trouble<C: ConnectionTrait>(
    db: &C,
    since: i64,
    stuck_before: i64,
) -> Result<Vec<i64>, DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT tenant_id FROM webhook_event \
               WHERE dedup_key IS NULL AND received_at >= $1 \
                 AND status = 'VERIFICATION_FAILED' AND tenant_id IS NOT NULL \
             UNION SELECT tenant_id FROM webhook_event \
               WHERE (status = 'FAILED' OR outcome = 'mode_mismatch') AND received_at >= $1 \
             UNION SELECT tenant_id FROM webhook_event \
               WHERE status = 'PROCESSING' AND received_at < $2"
        }
        _ => {
            "SELECT tenant_id FROM webhook_event \
               WHERE dedup_key IS NULL AND received_at >= ?1 \
                 AND status = 'VERIFICATION_FAILED' AND tenant_id IS NOT NULL \
             UNION SELECT tenant_id FROM webhook_event \
               WHERE (status = 'FAILED' OR outcome = 'mode_mismatch') AND received_at >= ?1 \
             UNION SELECT tenant_id FROM webhook_event INDEXED BY ix_webhook_event_processing_due \
               WHERE status = 'PROCESSING' AND received_at < ?2"
        }
    };
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [since.into(), stuck_before.into()],
        ))
        .await?;
    let mut tenants = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(id) = row.try_get::<Option<i64>>("", "tenant_id")? {
            tenants.push(id);
        }
    }
    Ok(tenants)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in EventStatus::ALL {
            assert_eq!(EventStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(EventStatus::parse("processing"), None);
    }
}
