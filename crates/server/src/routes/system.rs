//! Health, the caller's identity, and which video platforms are usable.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::config::AuthSettings;
use crate::state::HttpState;
use crate::views::Status;

/// `{"status": "healthy"}` while the database answers, else 503 `unhealthy`.
#[utoipa::path(get, path = "/health", tag = "system",
    responses((status = 200, body = Status), (status = 503, body = Status)))]
pub async fn health(State(state): State<HttpState>) -> (StatusCode, Json<Status>) {
    match state.app.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(Status { status: "healthy" })),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Status {
                    status: "unhealthy",
                }),
            )
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The caller's user id; null when anonymous.
    pub sub: Option<String>,
    /// `none` (single-user mode, everyone is `local`) or `jwt`.
    pub auth_backend: &'static str,
    /// Where the web UI signs in (`AUTH_BACKEND=jwt` with `OIDC_ISSUER` and `OIDC_CLIENT_ID`);
    /// null when it cannot. Answered to anonymous callers too: the page needs it before sign-in.
    pub oidc: Option<OidcInfo>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OidcInfo {
    /// The OpenID provider's issuer URL; its discovery document is at
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// The web UI's client id at that provider (a public client using PKCE).
    pub client_id: String,
}

#[utoipa::path(get, path = "/v1/me", tag = "auth", responses((status = 200, body = Me)))]
pub async fn me(State(state): State<HttpState>, caller: Caller) -> Json<Me> {
    Json(Me {
        sub: caller.0.user_id,
        auth_backend: match state.settings.auth {
            AuthSettings::None => "none",
            AuthSettings::Jwt(_) => "jwt",
        },
        oidc: match &state.settings.auth {
            AuthSettings::Jwt(jwt) => jwt.oidc.as_ref().map(|o| OidcInfo {
                issuer: o.issuer.clone(),
                client_id: o.client_id.clone(),
            }),
            AuthSettings::None => None,
        },
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformInfo {
    pub name: String,
    pub configured: bool,
    /// The setting that would make it usable, when it is not configured.
    pub missing_setting: Option<String>,
    pub is_default: bool,
}

/// Every video platform this server knows, and whether it can be used.
#[utoipa::path(get, path = "/v1/platforms", tag = "system",
    responses((status = 200, body = Vec<PlatformInfo>)))]
pub async fn platforms(State(state): State<HttpState>) -> Json<Vec<PlatformInfo>> {
    Json(
        state
            .app
            .platforms
            .statuses()
            .into_iter()
            .map(|s| PlatformInfo {
                name: s.name.to_owned(),
                configured: s.configured,
                missing_setting: s.missing_setting.map(str::to_owned),
                is_default: s.is_default,
            })
            .collect(),
    )
}
