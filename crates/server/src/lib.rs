//! Reflector's HTTP API: the `/v1` routes of the original Reflector (rooms, meetings, consent,
//! API keys), authentication, the OpenAPI document, and the pages of providers that serve their
//! own (the `mock` provider's call page). Handlers extract, call one store or platform function,
//! and map typed errors to `{"detail": …}` answers in one place ([`error::ApiError`]). Every
//! other path is the web app's (`web`), served from its built files.

pub mod auth;
pub mod config;
pub mod error;
pub mod meetings;
mod openapi;
pub mod routes;
pub mod state;
pub mod views;
mod web;

use std::future::Future;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method};
use axum::routing::{delete, get, patch, post};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::trace::TraceLayer;

pub use config::Settings;
pub use state::AppState;

use crate::error::ApiError;
use crate::routes::{keys, meetings as meeting_routes, rooms, system, webhooks};

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/v1/rooms", get(rooms::list).post(rooms::create))
        .route(
            "/v1/rooms/{room_id}",
            get(rooms::get).patch(rooms::update).delete(rooms::delete),
        )
        .route("/v1/rooms/name/{room_name}", get(rooms::get_by_name))
        .route("/v1/rooms/{room_name}/meeting", post(rooms::meeting))
        .route(
            "/v1/rooms/{room_name}/meetings/active",
            get(meeting_routes::active),
        )
        .route(
            "/v1/rooms/{room_name}/meetings/{meeting_id}",
            get(meeting_routes::get),
        )
        .route(
            "/v1/rooms/{room_name}/meetings/{meeting_id}/join",
            post(meeting_routes::join),
        )
        .route(
            "/v1/meetings/{meeting_id}/consent",
            post(meeting_routes::consent),
        )
        .route(
            "/v1/meetings/{meeting_id}/deactivate",
            patch(meeting_routes::deactivate),
        )
        .route(
            "/v1/meetings/{meeting_id}/recordings/start",
            post(meeting_routes::start_recording),
        )
        .route(
            "/v1/rooms/{room_id}/webhook/deliveries",
            get(webhooks::deliveries),
        )
        .route("/v1/rooms/{room_id}/webhook/test", post(webhooks::test))
        .route("/v1/user/api-keys", get(keys::list).post(keys::create))
        .route("/v1/user/api-keys/{key_id}", delete(keys::delete))
        .route("/v1/me", get(system::me))
        .route("/v1/platforms", get(system::platforms))
        .route("/health", get(system::health))
        .route("/openapi.json", get(openapi::document))
        .merge(webhooks::receivers(&state))
        .fallback_service(web::router(
            state.settings.web_dist_dir.clone(),
            state.platforms.page_prefixes(),
        ))
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone());

    api.merge(state.platforms.pages())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(cors(&state.settings))
        .layer(TraceLayer::new_for_http())
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

fn cors(settings: &Settings) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::PUT,
            Method::DELETE,
        ])
        .allow_headers([
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
            HeaderName::from_static(auth::API_KEY_HEADER),
        ]);
    match &settings.cors_origins {
        None => layer.allow_origin(Any),
        Some(origins) => layer.allow_origin(AllowOrigin::list(
            origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()),
        )),
    }
}

/// Serves the API on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
