//! Who is calling: with `AUTH_BACKEND=none` every request is user `local`; with `jwt` a bearer
//! JWT (its `sub`) or an `X-API-Key` identifies the user, and a request with neither is anonymous.
//! A credential that is present but wrong is refused (401), never treated as anonymous, and the
//! credentials sent must all name one user.

use axum::extract::FromRequestParts;
use axum::http::HeaderValue;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use reflector_app::AppError;
use reflector_app::access::Actor;

use crate::config::{AuthSettings, JwtSettings, LOCAL_USER};
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
        // Every credential sent is checked: a wrong one is refused even beside a good one, and
        // two that name different users are refused rather than one of them chosen.
        for name in [AUTHORIZATION.as_str(), API_KEY_HEADER] {
            if parts.headers.get_all(name).iter().nth(1).is_some() {
                return Err(invalid(&format!("Send one {name} header, not several")));
            }
        }
        let by_token = match parts.headers.get(AUTHORIZATION) {
            Some(value) => Some(token_user(jwt, value)?),
            None => None,
        };
        let by_key = match parts.headers.get(API_KEY_HEADER) {
            Some(value) => {
                let key = value.to_str().map_err(|_| invalid("Invalid API key"))?;
                let user = state.app.store.api_key_user(&hash_api_key(key)).await?;
                Some(user.ok_or_else(|| invalid("Invalid API key"))?)
            }
            None => None,
        };
        match (by_token, by_key) {
            (Some(actor), Some(key_user))
                if actor.user_id.as_deref() != Some(key_user.as_str()) =>
            {
                Err(invalid(
                    "The bearer token and the API key belong to different users; send one",
                ))
            }
            (Some(actor), _) => Ok(Caller(actor)),
            (None, Some(key_user)) => Ok(Caller(Actor::user(key_user))),
            (None, None) => Ok(Caller(Actor::anonymous())),
        }
    }
}

/// The user a bearer token in an `Authorization` header names, or why it is refused.
fn token_user(jwt: &JwtSettings, value: &HeaderValue) -> ApiResult<Actor> {
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
    // A token not yet valid is refused; so is one from another issuer when we know ours (the
    // web UI's sign-in provider issues the tokens the server accepts).
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
    Ok(Actor::user(data.claims.sub).named(name))
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
