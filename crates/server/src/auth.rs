//! Who is calling: with `AUTH_BACKEND=none` every request is user `local`; with `jwt` a bearer
//! JWT (its `sub`) or an `X-API-Key` identifies the user, and a request with neither is anonymous.
//! A credential that is present but wrong is refused (401), never treated as anonymous.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use reflector_app::AppError;
use reflector_app::access::Actor;

use crate::config::{AuthSettings, LOCAL_USER};
use crate::error::{ApiError, ApiResult};
use crate::state::HttpState;

pub const API_KEY_HEADER: &str = "x-api-key";

/// The request's [`Actor`], as an extractor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub Actor);

impl std::ops::Deref for Caller {
    type Target = Actor;
    fn deref(&self) -> &Actor {
        &self.0
    }
}

#[derive(serde::Deserialize)]
struct Claims {
    sub: String,
    /// The person's display name (OIDC's standard claim), given to providers that show it.
    #[serde(default)]
    name: Option<String>,
}

impl FromRequestParts<HttpState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &HttpState) -> ApiResult<Self> {
        let jwt = match &state.settings.auth {
            AuthSettings::None => {
                return Ok(Caller(Actor::user(LOCAL_USER)));
            }
            AuthSettings::Jwt(jwt) => jwt,
        };
        if let Some(value) = parts.headers.get(AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .map(str::trim)
                .ok_or_else(|| invalid("Authorization header must be 'Bearer <token>'"))?;
            let mut validation = jsonwebtoken::Validation::new(jwt.algorithm);
            match &jwt.audience {
                Some(aud) => validation.set_audience(&[aud]),
                None => validation.validate_aud = false,
            }
            // A token not yet valid is refused; so is one from another issuer when we know ours
            // (the web UI's sign-in provider issues the tokens the server accepts).
            validation.validate_nbf = true;
            if let Some(oidc) = &jwt.oidc {
                validation.set_issuer(&[&oidc.issuer]);
                validation.set_required_spec_claims(&["exp", "iss"]);
            }
            let data = jsonwebtoken::decode::<Claims>(token, &jwt.key, &validation)
                .map_err(|e| invalid(&format!("Invalid token: {e}")))?;
            if data.claims.sub.is_empty() {
                return Err(invalid("Invalid token: empty sub"));
            }
            let name = data.claims.name.filter(|n| !n.trim().is_empty());
            return Ok(Caller(Actor::user(data.claims.sub).named(name)));
        }
        if let Some(value) = parts.headers.get(API_KEY_HEADER) {
            let key = value.to_str().map_err(|_| invalid("Invalid API key"))?;
            let user = state.app.store.api_key_user(&hash_api_key(key)).await?;
            return match user {
                Some(user_id) => Ok(Caller(Actor::user(user_id))),
                None => Err(invalid("Invalid API key")),
            };
        }
        Ok(Caller(Actor::anonymous()))
    }
}

fn invalid(detail: &str) -> ApiError {
    AppError::BadCredentials(detail.to_owned()).into()
}

/// A new API key: 256 random bits, URL-safe, with a prefix that makes leaked keys recognisable.
pub fn new_api_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "rfk_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Keys are random, so a plain digest is enough to store them safely.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A random secret for signing a room's outgoing webhooks.
pub fn new_webhook_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
