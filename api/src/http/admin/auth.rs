//! Admin authentication: short-lived HS256 JWTs (algorithm pinned; expiry, issuer and
//! audience checked), and the extractors every admin route uses.

use crate::clock::now_ms;
use crate::http::AppState;
use crate::http::client_ip::ClientIp;
use crate::http::error::{Error, ErrorCode, Result};
use crate::http::extract::bearer;
use crate::tenants::admins::{self, Role};
use crate::tenants::audit::Actor;
use crate::tenants::{self, TenantSlug};
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use entity::{admin_user, tenant};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use sea_orm::EntityTrait;
use serde::{Deserialize, Serialize};

pub const ISSUER: &str = "stripe-webhook-gateway";
pub const AUDIENCE: &str = "gateway-admin";

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    /// This token's id, for signing it out (`POST /api/v1/admin/logout`).
    #[serde(default)]
    pub jti: String,
    /// The admin's token generation when it was issued: a password change raises it.
    #[serde(default)]
    pub generation: i64,
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
        jti: {
            let mut id = [0u8; 16];
            rand::fill(&mut id);
            hex::encode(id)
        },
        generation: admin.token_generation,
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
    /// The token this request came with: its id and expiry (seconds).
    pub token_id: String,
    pub token_expires: i64,
}

impl Admin {
    pub fn require_platform(&self) -> Result<()> {
        if self.role == Role::PlatformAdmin {
            Ok(())
        } else {
            Err(ErrorCode::PlatformAdminOnly.into())
        }
    }

    /// This admin, as the audit log names it.
    pub fn actor(&self) -> Actor {
        Actor {
            name: self.email.clone(),
            ip: self.ip.clone(),
        }
    }

    pub fn can_see(&self, tenant_id: i64) -> bool {
        self.role == Role::PlatformAdmin || self.tenant_id == Some(tenant_id)
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self> {
        let token = bearer(&parts.headers).ok_or(Error::from(ErrorCode::InvalidToken))?;
        let claims = decode_token(app.config.jwt_secret.expose(), token)
            .ok_or(Error::from(ErrorCode::InvalidToken))?;
        let id: i64 = claims
            .sub
            .parse()
            .map_err(|_| Error::from(ErrorCode::InvalidToken))?;
        let row = admin_user::Entity::find_by_id(id)
            .one(&app.db)
            .await?
            .ok_or(Error::from(ErrorCode::InvalidToken))?;
        // Ended by a password change, or signed out.
        if claims.generation != row.token_generation
            || admins::is_revoked(&app.db, &claims.jti).await?
        {
            return Err(ErrorCode::InvalidToken.into());
        }
        let role = Role::parse(&row.role).ok_or(Error::from(ErrorCode::InvalidToken))?;
        let ip = parts.extensions.get::<ClientIp>().map(|c| c.0.to_string());
        Ok(Admin {
            id: row.id,
            email: row.email,
            role,
            tenant_id: row.tenant_id,
            ip,
            token_id: claims.jti,
            token_expires: claims.exp,
        })
    }
}

/// A platform admin: a tenant admin is refused (403) before the request's body is
/// read, whatever the body says.
pub struct PlatformAdmin(pub Admin);

impl FromRequestParts<AppState> for PlatformAdmin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self> {
        let admin = Admin::from_request_parts(parts, app).await?;
        admin.require_platform()?;
        Ok(Self(admin))
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
            .map_err(|_| Error::from(ErrorCode::TenantNotFound))?;
        let slug = params
            .iter()
            .find(|(name, _)| *name == "tenant")
            .map(|(_, value)| value.to_string())
            .ok_or(Error::from(ErrorCode::TenantNotFound))?;
        let slug = TenantSlug::parse(&slug).map_err(|_| Error::from(ErrorCode::TenantNotFound))?;
        let tenant = tenants::find_by_slug(&app.db, &slug)
            .await?
            .filter(|t| admin.can_see(t.id))
            .ok_or(Error::from(ErrorCode::TenantNotFound))?;
        Ok(TenantAccess { admin, tenant })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            token_generation: 3,
        };
        let (token, _) = issue_token(secret, &admin, 3600);
        let claims = decode_token(secret, &token).unwrap();
        assert_eq!(claims.sub, "7");
        assert_eq!(claims.generation, 3);
        assert_eq!(claims.jti.len(), 32);
        let (other, _) = issue_token(secret, &admin, 3600);
        assert_ne!(decode_token(secret, &other).unwrap().jti, claims.jti);
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
