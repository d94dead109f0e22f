//! Reflector's HTTP API: the `/v1` routes of the original Reflector (rooms, meetings, consent,
//! API keys, webhooks), authentication, the OpenAPI document, and the pages of providers that
//! serve their own (the `mock` provider's call page). Handlers extract, call the application
//! layer (`reflector-app`), and answer; errors become `{"detail": …}` answers in one place
//! ([`error::ApiError`]). Each route is written once ([`api_routes`]): the router and the OpenAPI
//! document come from that list. Every other path is the web app's (`web`), served from its
//! built files.

pub mod auth;
pub mod config;
pub mod error;
mod openapi;
pub mod ops;
pub mod routes;
pub mod single_user;
pub mod state;
pub mod views;
mod web;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method};
use axum::response::IntoResponse;
use axum::routing::get;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use config::AuthSettings;
pub use config::HttpSettings;
pub use state::HttpState;

use crate::error::ApiError;
use crate::routes::{calendar, keys, meetings, rooms, system, transcripts, webhooks};

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Every documented route, written once: the router serves them and `/openapi.json` describes
/// them. Handlers of one path go in one `routes!`.
pub fn api_routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(rooms::list, rooms::create))
        .routes(routes!(rooms::get, rooms::update, rooms::delete))
        .routes(routes!(rooms::get_by_name))
        .routes(routes!(rooms::meeting))
        .routes(routes!(meetings::active))
        // Static segments win over `{meeting_id}` in the router, so `upcoming` is not a meeting id.
        .routes(routes!(calendar::upcoming))
        .routes(routes!(calendar::events))
        .routes(routes!(calendar::sync))
        .routes(routes!(calendar::status))
        .routes(routes!(meetings::get))
        .routes(routes!(meetings::join))
        .routes(routes!(meetings::consent))
        .routes(routes!(meetings::deactivate))
        .routes(routes!(meetings::start_recording))
        .routes(routes!(meetings::recordings))
        .routes(routes!(transcripts::list, transcripts::create))
        .routes(routes!(transcripts::search))
        .routes(routes!(
            transcripts::get,
            transcripts::update,
            transcripts::delete
        ))
        .routes(routes!(transcripts::topics))
        .routes(routes!(transcripts::participants))
        .routes(routes!(transcripts::process))
        .routes(routes!(transcripts::audio))
        // Chunks are streamed to disk and limited by `UPLOAD_CHUNK_MAX_BYTES` as they are read,
        // in place of the API's 1 MiB body limit.
        .merge(
            OpenApiRouter::new()
                .routes(routes!(transcripts::upload))
                .layer(DefaultBodyLimit::disable()),
        )
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::test))
        .routes(routes!(keys::list, keys::create))
        .routes(routes!(keys::delete))
        .routes(routes!(system::me))
        .routes(routes!(system::platforms))
        .routes(routes!(system::health))
}

/// The OpenAPI document of [`api_routes`].
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    api_routes().into_openapi()
}

pub fn router(state: HttpState) -> Router {
    let (api, document) = api_routes().split_for_parts();
    let document = Arc::new(document);
    let api = api
        .route(
            "/openapi.json",
            get(move || {
                let document = document.clone();
                async move { axum::Json(document.as_ref().clone()) }
            }),
        )
        .merge(webhooks::receivers(&state))
        .fallback_service(web::router(
            state.settings.web_dist_dir.clone(),
            state.app.platforms.page_prefixes(),
        ))
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone());

    let api = if state.metrics.is_some() && state.settings.metrics.listen.is_none() {
        api.merge(ops::metrics_router(state.clone()))
    } else {
        api
    };
    let router = api
        .merge(state.app.platforms.pages())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(refuse_nul_in_address))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::time_limit,
        ));
    let router = match &state.settings.auth {
        // Every caller is the owner here, so no web page may act through the user's browser.
        AuthSettings::None => {
            let listed = state.settings.cors_origins.clone().unwrap_or_default();
            let guard = Arc::new(single_user::LocalGuard::new(
                &state.settings.public_hosts,
                &listed,
            ));
            let router = if listed.is_empty() {
                router
            } else {
                router.layer(cors(&state.settings))
            };
            router.layer(axum::middleware::from_fn_with_state(
                guard,
                single_user::guard,
            ))
        }
        AuthSettings::Jwt(_) => router.layer(cors(&state.settings)),
    };
    router
        .layer(axum::middleware::from_fn(ops::record_request))
        .layer(TraceLayer::new_for_http())
}

/// An address whose path or query holds an encoded NUL (`%00`) is refused with 422 before any
/// route reads it: PostgreSQL's text cannot hold the character, so no id, name or search can
/// contain it, and both engines answer alike.
async fn refuse_nul_in_address(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let uri = request.uri();
    let has_nul = |s: &str| s.as_bytes().windows(3).any(|w| w == b"%00");
    if has_nul(uri.path()) || uri.query().is_some_and(has_nul) {
        return ApiError::invalid_address("The address must not contain the NUL character (%00).")
            .into_response();
    }
    next.run(request).await
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

fn cors(settings: &HttpSettings) -> CorsLayer {
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

/// Serves the API on `listener` until `shutdown` completes, then finishes in-flight requests
/// within the shutdown grace period ([`ops::serve_with_limits`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: HttpState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.settings.limits.clone();
    ops::serve_with_limits(listener, router(state), &limits, shutdown).await
}
