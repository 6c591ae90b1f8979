//! Admin accounts: roles, argon2id password hashes, and creating an account (the same
//! rules for the admin API and `gateway admin create`).

use super::TenantSlug;
use super::audit::{self, Actor};
use crate::clock::now_ms;
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use entity::{admin_user, revoked_token};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, Set,
};
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    PlatformAdmin,
    TenantAdmin,
}

impl Role {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "platform_admin" => Some(Self::PlatformAdmin),
            "tenant_admin" => Some(Self::TenantAdmin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PlatformAdmin => "platform_admin",
            Self::TenantAdmin => "tenant_admin",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A value the caller must change: the message says which and how.
    #[error("{0}")]
    Invalid(String),
    #[error("an admin with this email already exists")]
    EmailTaken,
    #[error("no tenant {0}")]
    NoTenant(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

pub fn hash_password(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .expect("argon2id hashing of an in-memory password cannot fail")
        .to_string()
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A hash to verify against when the account does not exist, so that an unknown email
/// costs the same time as a wrong password.
pub fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password("no such account: constant-time stand-in"))
}

pub fn validate_password(password: &str) -> Result<(), AdminError> {
    let characters = password.chars().count();
    if !(12..=1024).contains(&characters) {
        return Err(AdminError::Invalid(
            "a password is 12 to 1024 characters".into(),
        ));
    }
    Ok(())
}

/// The email, trimmed and lower-cased, when it looks like one.
pub fn validate_email(email: &str) -> Result<String, AdminError> {
    let email = email.trim().to_ascii_lowercase();
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(email)
    } else {
        Err(AdminError::Invalid("email is not an email address".into()))
    }
}

/// Every admin by email, with its tenant's slug (tenant admins).
pub async fn list<C: ConnectionTrait>(
    db: &C,
) -> Result<Vec<(admin_user::Model, Option<String>)>, DbErr> {
    let admins = admin_user::Entity::find()
        .order_by_asc(admin_user::Column::Email)
        .all(db)
        .await?;
    let slugs: std::collections::HashMap<i64, String> = super::list(db, None)
        .await?
        .into_iter()
        .map(|t| (t.id, t.slug))
        .collect();
    Ok(admins
        .into_iter()
        .map(|a| {
            let slug = a.tenant_id.and_then(|id| slugs.get(&id).cloned());
            (a, slug)
        })
        .collect())
}

pub async fn find_by_email<C: ConnectionTrait>(
    db: &C,
    email: &str,
) -> Result<Option<admin_user::Model>, DbErr> {
    admin_user::Entity::find()
        .filter(admin_user::Column::Email.eq(email))
        .one(db)
        .await
}

/// Creates an admin account; audited in the same transaction.
pub async fn create(
    db: &DatabaseConnection,
    email: &str,
    password: &str,
    role: &str,
    tenant: Option<&str>,
    actor: &Actor,
) -> Result<admin_user::Model, AdminError> {
    let invalid = |m: String| AdminError::Invalid(m);
    let email = validate_email(email)?;
    validate_password(password)?;
    let role = Role::parse(role)
        .ok_or_else(|| invalid("role is platform_admin or tenant_admin".into()))?;
    let tenant_id = match (role, tenant) {
        (Role::PlatformAdmin, None) => None,
        (Role::PlatformAdmin, Some(_)) => {
            return Err(invalid("a platform_admin has no tenant".into()));
        }
        (Role::TenantAdmin, None) => return Err(invalid("a tenant_admin needs a tenant".into())),
        (Role::TenantAdmin, Some(slug)) => {
            let slug = TenantSlug::parse(slug).map_err(|e| invalid(e.to_string()))?;
            Some(
                super::find_by_slug(db, &slug)
                    .await?
                    .ok_or_else(|| AdminError::NoTenant(slug.to_string()))?
                    .id,
            )
        }
    };
    if find_by_email(db, &email).await?.is_some() {
        return Err(AdminError::EmailTaken);
    }
    // Hashed before the transaction: argon2 takes a while, a write turn should not.
    let password = password.to_string();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| AdminError::Db(DbErr::Custom(format!("password hashing failed: {e}"))))?;
    let txn = crate::db::begin_write(db).await?;
    let admin = admin_user::ActiveModel {
        email: Set(email),
        password_hash: Set(hash),
        role: Set(role.as_str().to_string()),
        tenant_id: Set(tenant_id),
        created_at: Set(now_ms()),
        ..Default::default()
    }
    .insert(&*txn)
    .await
    .map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => AdminError::EmailTaken,
        _ => AdminError::Db(e),
    })?;
    let detail = serde_json::json!({"email": admin.email, "role": admin.role});
    audit::record(&*txn, actor, admin.tenant_id, "admin.create", detail).await?;
    txn.commit().await?;
    Ok(admin)
}

/// Whether the token `jti` was signed out (tokens issued before ids existed have none).
pub async fn is_revoked<C: ConnectionTrait>(db: &C, jti: &str) -> Result<bool, DbErr> {
    if jti.is_empty() {
        return Ok(false);
    }
    Ok(revoked_token::Entity::find_by_id(jti.to_string())
        .one(db)
        .await?
        .is_some())
}

/// Signs the token `jti` out until `expires_at_secs`, when it would end anyway; forgets
/// the tokens that have expired meanwhile.
pub async fn revoke(
    db: &DatabaseConnection,
    admin_id: i64,
    jti: &str,
    expires_at_secs: i64,
) -> Result<(), DbErr> {
    let now = now_ms();
    revoked_token::Entity::delete_many()
        .filter(revoked_token::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    if jti.is_empty() || is_revoked(db, jti).await? {
        return Ok(());
    }
    revoked_token::ActiveModel {
        jti: Set(jti.to_string()),
        admin_id: Set(admin_id),
        expires_at: Set(expires_at_secs.saturating_mul(1000)),
    }
    .insert(db)
    .await
    .map(|_| ())
    .or_else(|e| match e.sql_err() {
        // Signed out twice at once: it is revoked either way.
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => Ok(()),
        _ => Err(e),
    })
}

/// Sets a new password hash and raises the admin's token generation, so that every
/// token issued before ends; audited in the same transaction. The updated account.
pub async fn change_password(
    db: &DatabaseConnection,
    admin_id: i64,
    new_hash: String,
    actor: &Actor,
) -> Result<admin_user::Model, DbErr> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    let txn = crate::db::begin_write(db).await?;
    admin_user::Entity::update_many()
        .col_expr(admin_user::Column::PasswordHash, Expr::value(new_hash))
        .col_expr(
            admin_user::Column::TokenGeneration,
            Expr::col(admin_user::Column::TokenGeneration).add(1),
        )
        .filter(admin_user::Column::Id.eq(admin_id))
        .exec(&*txn)
        .await?;
    let admin = admin_user::Entity::find_by_id(admin_id)
        .one(&*txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("admin {admin_id}")))?;
    let detail = serde_json::json!({"email": admin.email});
    audit::record(
        &*txn,
        actor,
        admin.tenant_id,
        "admin.password_change",
        detail,
    )
    .await?;
    txn.commit().await?;
    Ok(admin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse battery");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("wrong horse battery", &hash));
        assert!(!verify_password("anything", "not a hash"));
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(validate_email(" A@B.Example ").unwrap(), "a@b.example");
        for bad in ["", "a@", "@b.c", "a b@c.d", "a@.c", "a@bc"] {
            assert!(validate_email(bad).is_err(), "{bad:?}");
        }
    }
}
