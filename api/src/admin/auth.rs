//! Admin authentication: argon2id passwords, short-lived HS256 JWTs (algorithm pinned;
//! expiry, issuer and audience checked), and the extractors every admin route uses.

use crate::AppState;
use crate::db::now_ms;
use crate::error::{Error, Result};
use crate::tenants::{self, TenantSlug};
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::{ConnectInfo, FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use entity::{admin_user, tenant};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use sea_orm::EntityTrait;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::OnceLock;

pub const ISSUER: &str = "stripe-webhook-gateway";
pub const AUDIENCE: &str = "gateway-admin";

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

pub fn validate_password(password: &str) -> Result<()> {
    if password.chars().count() < 12 || password.len() > 1024 {
        return Err(Error::unprocessable("a password is 12 to 1024 characters"));
    }
    Ok(())
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

/// A token for `lifetime_secs` (`ADMIN_TOKEN_TTL_SECS`, one hour by default).
pub fn issue_token(secret: &[u8], admin: &admin_user::Model, lifetime_secs: i64) -> (String, i64) {
    let now = now_ms() / 1000;
    let exp = now + lifetime_secs;
    let claims = Claims {
        sub: admin.id.to_string(),
        role: admin.role.clone(),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        iat: now,
        exp,
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("HS256 signing cannot fail");
    (token, exp)
}

pub fn decode_token(secret: &[u8], token: &str) -> Option<Claims> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret), &validation)
        .ok()
        .map(|data| data.claims)
}

/// The signed-in admin, as the database knows it now (a deleted admin's token is void).
#[derive(Debug, Clone)]
pub struct Admin {
    pub id: i64,
    pub email: String,
    pub role: Role,
    pub tenant_id: Option<i64>,
    /// The client address, for the audit log.
    pub ip: Option<String>,
}

impl Admin {
    pub fn require_platform(&self) -> Result<()> {
        if self.role == Role::PlatformAdmin {
            Ok(())
        } else {
            Err(Error::Forbidden("platform_admin_only"))
        }
    }

    pub fn can_see(&self, tenant_id: i64) -> bool {
        self.role == Role::PlatformAdmin || self.tenant_id == Some(tenant_id)
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self> {
        let token = crate::orders::route::bearer(&parts.headers)
            .ok_or(Error::Unauthorized("invalid_token"))?;
        let claims = decode_token(app.config.jwt_secret.expose(), token)
            .ok_or(Error::Unauthorized("invalid_token"))?;
        let id: i64 = claims
            .sub
            .parse()
            .map_err(|_| Error::Unauthorized("invalid_token"))?;
        let row = admin_user::Entity::find_by_id(id)
            .one(&app.db)
            .await?
            .ok_or(Error::Unauthorized("invalid_token"))?;
        let role = Role::parse(&row.role).ok_or(Error::Unauthorized("invalid_token"))?;
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        Ok(Admin {
            id: row.id,
            email: row.email,
            role,
            tenant_id: row.tenant_id,
            ip,
        })
    }
}

/// An admin and the tenant named by `{tenant}` in the path, which the admin may see.
/// Any other tenant answers 404, exactly as one that does not exist.
pub struct TenantAccess {
    pub admin: Admin,
    pub tenant: tenant::Model,
}

impl FromRequestParts<AppState> for TenantAccess {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self> {
        let admin = Admin::from_request_parts(parts, app).await?;
        let params = RawPathParams::from_request_parts(parts, app)
            .await
            .map_err(|_| Error::NotFound("tenant_not_found"))?;
        let slug = params
            .iter()
            .find(|(name, _)| *name == "tenant")
            .map(|(_, value)| value.to_string())
            .ok_or(Error::NotFound("tenant_not_found"))?;
        let slug = TenantSlug::parse(&slug).map_err(|_| Error::NotFound("tenant_not_found"))?;
        let tenant = tenants::find_by_slug(&app.db, &slug)
            .await?
            .filter(|t| admin.can_see(t.id))
            .ok_or(Error::NotFound("tenant_not_found"))?;
        Ok(TenantAccess { admin, tenant })
    }
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
    fn tokens_are_pinned_to_hs256_issuer_audience_and_expiry() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let admin = admin_user::Model {
            id: 7,
            email: "a@b.c".into(),
            password_hash: String::new(),
            role: "platform_admin".into(),
            tenant_id: None,
            created_at: 0,
        };
        let (token, _) = issue_token(secret, &admin, 3600);
        assert_eq!(decode_token(secret, &token).unwrap().sub, "7");
        assert!(decode_token(b"another-secret-another-secret-000", &token).is_none());
        let forge = |claims: serde_json::Value, alg: Algorithm| {
            jsonwebtoken::encode(
                &Header::new(alg),
                &claims,
                &EncodingKey::from_secret(secret),
            )
            .unwrap()
        };
        let now = now_ms() / 1000;
        let good = serde_json::json!({"sub": "7", "role": "platform_admin", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 60});
        assert!(decode_token(secret, &forge(good.clone(), Algorithm::HS256)).is_some());
        assert!(
            decode_token(secret, &forge(good.clone(), Algorithm::HS512)).is_none(),
            "algorithm pinned"
        );
        let mut expired = good.clone();
        expired["exp"] = serde_json::json!(now - 60);
        assert!(decode_token(secret, &forge(expired, Algorithm::HS256)).is_none());
        let mut audience = good.clone();
        audience["aud"] = serde_json::json!("someone-else");
        assert!(decode_token(secret, &forge(audience, Algorithm::HS256)).is_none());
        let mut issuer = good;
        issuer["iss"] = serde_json::json!("someone-else");
        assert!(decode_token(secret, &forge(issuer, Algorithm::HS256)).is_none());
    }
}
