//! Webhooks: receiving the providers' (mounted for each configured provider at the path it
//! names), and the room owner's view of outgoing deliveries and the "test webhook" button.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use chrono::{DateTime, Utc};
use reflector_platforms::{VideoPlatform, WebhookOutcome, WebhookRejection};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use reflector_app::AppError;
use reflector_app::access::OWNER_ONLY;

use crate::error::ApiResult;
use crate::state::HttpState;
use crate::views::Status;

/// `POST /v1{path}` for every configured provider that sends webhooks.
pub fn receivers(state: &HttpState) -> axum::Router<HttpState> {
    state.app.platforms.webhook_receivers().into_iter().fold(
        axum::Router::new(),
        |router, (path, platform)| {
            router.route(
                &format!("/v1{path}"),
                post(
                    move |State(state): State<HttpState>, headers: HeaderMap, body: Bytes| {
                        receive(state, platform.clone(), headers, body)
                    },
                ),
            )
        },
    )
}

/// Verifies a delivery and stores it for the jobs; answers in milliseconds. Unknown event types
/// and unknown meetings are accepted (200): refusing them would only make providers retry and,
/// at Daily, disable the webhook.
async fn receive(
    state: HttpState,
    platform: Arc<dyn VideoPlatform>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Status>> {
    let provider = platform.name();
    let event = match platform.verify_webhook(&headers, &body, state.app.clock.now()) {
        Ok(WebhookOutcome::Probe) => {
            count_webhook(provider, "probe");
            return Ok(Json(Status { status: "ok" }));
        }
        Ok(WebhookOutcome::Event(event)) => event,
        Err(WebhookRejection::Malformed(why)) => {
            count_webhook(provider, "malformed");
            return Err(AppError::refused(format!("Malformed webhook: {why}")).into());
        }
        Err(rejection) => {
            count_webhook(provider, "rejected");
            tracing::warn!(provider, %rejection, "webhook rejected");
            return Err(AppError::BadCredentials(rejection.to_string()).into());
        }
    };
    let new = reflector_app::ingest::ingest_event(&state.app, provider, &event)
        .await
        .map_err(|e| {
            count_webhook(provider, "unstored");
            tracing::error!(provider, error = %e, "could not store a webhook");
            // 503 makes the provider deliver it again later.
            AppError::Unavailable("Could not store the webhook; deliver it again later.".into())
        })?;
    count_webhook(provider, if new { "new" } else { "duplicate" });
    Ok(Json(Status {
        status: if new { "ok" } else { "duplicate" },
    }))
}

/// `reflector_provider_webhooks_total{provider, outcome}`: every delivery a provider made, as
/// `new`, `duplicate` (already in the inbox), `probe`, `rejected` (signature), `malformed`, or
/// `unstored` (answered 503 for redelivery).
fn count_webhook(provider: &'static str, outcome: &'static str) {
    metrics::counter!("reflector_provider_webhooks_total", "provider" => provider, "outcome" => outcome)
        .increment(1);
}

/// One delivery attempt of an outgoing webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    pub id: String,
    /// The same on every attempt of one event.
    pub event_id: String,
    pub event: String,
    pub url: String,
    /// 0 for the first attempt.
    pub attempt: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub attempted_at: DateTime<Utc>,
}

async fn owned_room(
    state: &HttpState,
    caller: &Caller,
    room_id: &str,
) -> ApiResult<reflector_core::Room> {
    caller.require()?;
    let room = state
        .app
        .store
        .room(room_id)
        .await?
        .ok_or(AppError::NotFound("Room"))?;
    caller.require_owner(&room, OWNER_ONLY)?;
    Ok(room)
}

/// The room's latest 100 delivery attempts, newest first (owner only).
#[utoipa::path(get, path = "/v1/rooms/{room_id}/webhook/deliveries", tag = "webhooks", params(("room_id" = String, Path)),
    responses((status = 200, body = Vec<Delivery>), (status = 403), (status = 404)))]
pub async fn deliveries(
    State(state): State<HttpState>,
    caller: Caller,
    Path(room_id): Path<String>,
) -> ApiResult<Json<Vec<Delivery>>> {
    let room = owned_room(&state, &caller, &room_id).await?;
    let attempts = state.app.store.deliveries(&room.id, 100).await?;
    Ok(Json(
        attempts
            .into_iter()
            .map(|d| Delivery {
                id: d.id,
                event_id: d.event_id,
                event: d.event,
                url: d.url,
                attempt: d.attempt,
                status_code: d.status_code,
                error: d.error,
                next_attempt_at: d.next_attempt_at,
                delivered_at: d.delivered_at,
                attempted_at: d.attempted_at,
            })
            .collect(),
    ))
}

/// What the test delivery did.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookTestResult {
    pub success: bool,
    pub status_code: Option<u16>,
    pub message: String,
    pub error: Option<String>,
    /// The start of the receiver's answer (at most 1000 characters).
    pub response_preview: Option<String>,
}

/// Sends a `test` event to the room's webhook now and reports what happened; always 200 for
/// the owner.
#[utoipa::path(post, path = "/v1/rooms/{room_id}/webhook/test", tag = "webhooks", params(("room_id" = String, Path)),
    responses((status = 200, body = WebhookTestResult), (status = 403), (status = 404)))]
pub async fn test(
    State(state): State<HttpState>,
    caller: Caller,
    Path(room_id): Path<String>,
) -> ApiResult<Json<WebhookTestResult>> {
    let room = owned_room(&state, &caller, &room_id).await?;
    let result = reflector_app::notify::send_test(&state.app, &room).await?;
    Ok(Json(WebhookTestResult {
        success: result.success,
        status_code: result.status_code,
        message: result.message,
        error: result.error,
        response_preview: result.response_preview,
    }))
}
