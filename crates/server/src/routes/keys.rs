//! `/v1/user/api-keys`: a signed-in user's API keys for the `X-API-Key` header.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use reflector_store::ApiKey;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Caller, hash_api_key, new_api_key};
use reflector_app::AppError;

use crate::error::{ApiJson, ApiResult};
use crate::state::HttpState;
use crate::views::Status;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// Optional (null or absent for none); when given, 1–100 characters.
    #[serde(default)]
    pub name: Option<String>,
}

/// An API key as the original shows it (`ApiKeyResponse`); an unnamed key's `name` is null.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The new key; `key` is shown only in this answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub api_key: ApiKeyView,
    pub key: String,
}

impl From<ApiKey> for ApiKeyView {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id,
            user_id: k.user_id,
            // Stored as "" for none.
            name: Some(k.name).filter(|n| !n.is_empty()),
            created_at: k.created_at,
        }
    }
}

#[utoipa::path(post, path = "/v1/user/api-keys", operation_id = "create_api_key", tag = "auth", request_body = CreateApiKey,
    responses((status = 200, body = CreatedApiKey), (status = 401)))]
pub async fn create(
    State(state): State<HttpState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateApiKey>,
) -> ApiResult<Json<CreatedApiKey>> {
    let user_id = caller.require()?;
    if let Some(name) = &req.name {
        if name.trim().is_empty() {
            return Err(AppError::invalid("name", "must not be empty (send null for none)").into());
        }
        if name.chars().count() > 100 {
            return Err(AppError::invalid("name", "must be at most 100 characters").into());
        }
    }
    let key = new_api_key();
    let record = ApiKey {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user_id.to_owned(),
        name: req.name.unwrap_or_default(),
        created_at: state.app.clock.now(),
    };
    state
        .app
        .store
        .insert_api_key(&record, &hash_api_key(&key))
        .await?;
    Ok(Json(CreatedApiKey {
        api_key: record.into(),
        key,
    }))
}

#[utoipa::path(get, path = "/v1/user/api-keys", operation_id = "list_api_keys", tag = "auth",
    responses((status = 200, body = Vec<ApiKeyView>), (status = 401)))]
pub async fn list(
    State(state): State<HttpState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ApiKeyView>>> {
    let user_id = caller.require()?;
    let keys = state.app.store.api_keys(user_id).await?;
    Ok(Json(keys.into_iter().map(Into::into).collect()))
}

#[utoipa::path(delete, path = "/v1/user/api-keys/{key_id}", operation_id = "delete_api_key", tag = "auth", params(("key_id" = String, Path)),
    responses((status = 200, body = Status), (status = 401), (status = 404)))]
pub async fn delete(
    State(state): State<HttpState>,
    caller: Caller,
    Path(key_id): Path<String>,
) -> ApiResult<Json<Status>> {
    let user_id = caller.require()?;
    if state.app.store.delete_api_key(user_id, &key_id).await? {
        Ok(Json(Status { status: "ok" }))
    } else {
        Err(AppError::NotFound("API key").into())
    }
}
