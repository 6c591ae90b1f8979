//! New rows: verified events (stored once per tenant and event id) and rejected
//! deliveries.

use super::{EventStatus, Rejected, Source, Verified, storable};
use crate::clock::now_ms;
use crate::db::Dialect;
use entity::webhook_event::{self, Column};
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QuerySelect, QueryTrait, Set, Statement,
};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

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
    let dialect = Dialect::of(db);
    if dialect.arrays() {
        // Exact (tenant, event id) pairs, in one statement whose text never changes
        // (parsed once per connection), each pair one probe of the unique index, kept
        // so by the `LATERAL … OFFSET 0` however small the table was when a cached plan
        // was made (see `orders::apply::lock_orders`), by the event id alone (the index
        // leads with it; the tenant is compared outside). Two `IN` lists let PostgreSQL
        // read by the tenant prefix alone.
        let pairs = group
            .iter()
            .map(|e| (e.tenant_id, e.facts.event_id.as_str()));
        let statement = dialect.statement(STORED_PROBE, crate::db::pair_arrays(pairs));
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
    dialect: Dialect,
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
    dialect.build(&insert)
}

/// The insert as one statement of fixed text (a dialect with arrays: PostgreSQL): prepared once per
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
    dialect: Dialect,
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
    Ok(dialect.statement(SQL, [rows.into(), payloads.into()]))
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
    let dialect = Dialect::of(db);
    let statement = match dialect.arrays() {
        true => insert_as_json(group, lease, now, dialect)?,
        false => insert_as_values(group, lease, now, dialect),
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
