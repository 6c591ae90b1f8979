//! Writing what a group changed: new payments, changed payments and orders, in one
//! statement on PostgreSQL.

use super::Rows;
use crate::db::Dialect;
use entity::{order, payment};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, IdenStatic, IntoActiveModel, Iterable,
};

impl Rows {
    /// Writes what changed: new payments in one insert (a payment another writer
    /// created meanwhile makes it fail, and the group is applied again: see
    /// `inbox::store_group`), changed payments and orders in one statement each
    /// (their rows are locked by this transaction, so the statement only updates).
    pub(super) async fn write<C: ConnectionTrait>(self, db: &C) -> Result<(), DbErr> {
        let mut new_payments = Vec::new();
        let mut changed_payments = Vec::new();
        for p in self.payments {
            match &p.original {
                None => new_payments.push(p.model),
                Some(original) if *original != p.model => changed_payments.push(p.model),
                Some(_) => {}
            }
        }
        let changed_orders: Vec<order::Model> = self
            .orders
            .into_iter()
            .filter(|o| o.model != o.original)
            .map(|o| o.model)
            .collect();
        if Dialect::of(db).arrays() {
            return write_fixed(db, &new_payments, &changed_payments, &changed_orders).await;
        }
        if !new_payments.is_empty() {
            let rows = new_payments.into_iter().map(|model| {
                let mut row = model.into_active_model().reset_all();
                row.id = sea_orm::ActiveValue::NotSet;
                row
            });
            payment::Entity::insert_many(rows)
                .exec_without_returning(db)
                .await?;
        }
        if !changed_payments.is_empty() {
            let rows = changed_payments
                .into_iter()
                .map(|model| model.into_active_model().reset_all());
            payment::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::column(payment::Column::Id)
                        .update_columns(PAYMENT_UPDATES)
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await?;
        }
        if !changed_orders.is_empty() {
            let rows = changed_orders
                .into_iter()
                .map(|model| model.into_active_model().reset_all());
            order::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::column(order::Column::Id)
                        .update_columns(ORDER_UPDATES)
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await?;
        }
        Ok(())
    }
}

/// What applying changes in an order's row (the rest is the admin's or the creator's).
const ORDER_UPDATES: [order::Column; 8] = [
    order::Column::Status,
    order::Column::Expired,
    order::Column::Canceled,
    order::Column::CheckoutSessionId,
    order::Column::PaymentIntentId,
    order::Column::CustomerEmail,
    order::Column::Totals,
    order::Column::UpdatedAt,
];

/// What applying changes in a payment's row.
const PAYMENT_UPDATES: [payment::Column; 13] = [
    payment::Column::OrderId,
    payment::Column::PaymentIntentId,
    payment::Column::ChargeId,
    payment::Column::Amount,
    payment::Column::Currency,
    payment::Column::Status,
    payment::Column::Succeeded,
    payment::Column::Failed,
    payment::Column::ChargeRefunded,
    payment::Column::Refunds,
    payment::Column::Disputes,
    payment::Column::AmountRefunded,
    payment::Column::UpdatedAt,
];

/// The writes of `Rows::write` on PostgreSQL, in one statement whose text never
/// changes (parsed once per connection, not once per group size): new payments are
/// inserted, changed payments and orders (whose rows this transaction has locked)
/// updated with one `UPDATE … FROM` each, matched by id and tenant, the rows in one
/// JSON parameter each (`[]` for none). Each is a data-modifying `WITH` of the same
/// statement, so a group that writes pays one round trip instead of three; they touch
/// different rows (a new payment is not among the changed ones), so that they do not
/// see each other's changes does not matter. The column lists follow the entities.
///
/// The updates name their rows' ids a second time, as an array: `t.id = ANY(…)` is a
/// probe of the primary key per row. Joined to the JSON rows alone, PostgreSQL
/// estimates them at a hundred and reads the whole table into a hash join instead
/// (a sequential scan of every payment for each group: 1.4 ms a group at 4,000
/// payments, and growing with the table).
async fn write_fixed<C: ConnectionTrait>(
    db: &C,
    new_payments: &[payment::Model],
    changed_payments: &[payment::Model],
    changed_orders: &[order::Model],
) -> Result<(), DbErr> {
    if new_payments.is_empty() && changed_payments.is_empty() && changed_orders.is_empty() {
        return Ok(());
    }
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        let set = |columns: &[&str]| -> String {
            columns
                .iter()
                .map(|c| format!("{c} = r.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let inserted: Vec<&str> = payment::Column::iter()
            .map(|c| c.as_str())
            .filter(|c| *c != payment::Column::Id.as_str())
            .collect();
        let inserted = inserted.join(", ");
        let payment_updates: Vec<&str> = PAYMENT_UPDATES.iter().map(|c| c.as_str()).collect();
        let order_updates: Vec<&str> = ORDER_UPDATES.iter().map(|c| c.as_str()).collect();
        format!(
            "WITH new_payments AS (INSERT INTO payments ({inserted}) SELECT {inserted} \
               FROM json_populate_recordset(NULL::payments, $1::json) RETURNING 1), \
             changed_payments AS (UPDATE payments AS t SET {} \
               FROM json_populate_recordset(NULL::payments, $2::json) AS r \
               WHERE t.id = ANY($3::int8[]) AND t.id = r.id AND t.tenant_id = r.tenant_id \
               RETURNING 1), \
             changed_orders AS (UPDATE orders AS t SET {} \
               FROM json_populate_recordset(NULL::orders, $4::json) AS r \
               WHERE t.id = ANY($5::text[]) AND t.id = r.id AND t.tenant_id = r.tenant_id \
               RETURNING 1) \
             SELECT (SELECT count(*) FROM new_payments) AS new_payments, \
               (SELECT count(*) FROM changed_payments) AS changed_payments, \
               (SELECT count(*) FROM changed_orders) AS changed_orders",
            set(&payment_updates),
            set(&order_updates)
        )
    });
    fn json<M: serde::Serialize>(rows: &[M]) -> Result<sea_orm::Value, DbErr> {
        serde_json::to_string(rows)
            .map(Into::into)
            .map_err(|e| DbErr::Custom(format!("rows as JSON: {e}")))
    }
    let payment_ids: Vec<i64> = changed_payments.iter().map(|p| p.id).collect();
    let order_ids: Vec<String> = changed_orders.iter().map(|o| o.id.clone()).collect();
    let values = [
        json(new_payments)?,
        json(changed_payments)?,
        payment_ids.into(),
        json(changed_orders)?,
        order_ids.into(),
    ];
    let statement = Dialect::of(db).statement(sql, values);
    let row = db
        .query_one_raw(statement)
        .await?
        .ok_or_else(|| DbErr::Custom("the group's writes returned no row".into()))?;
    for (column, expected) in [
        ("new_payments", new_payments.len()),
        ("changed_payments", changed_payments.len()),
        ("changed_orders", changed_orders.len()),
    ] {
        let wrote: i64 = row.try_get("", column)?;
        if wrote != expected as i64 {
            // Every row updated is locked by this transaction: a miss is a bug, and
            // the group is rolled back rather than half written.
            return Err(DbErr::Custom(format!(
                "{column}: wrote {wrote} of {expected} rows"
            )));
        }
    }
    Ok(())
}
