//! The API's one error type and the one place where errors become HTTP statuses: every error is
//! `{"detail": "…"}` with a status that says whose move it is. Routes answer the application's
//! [`AppError`]s; this module maps them, and the extractors' rejections, to statuses.

use axum::Json;
use axum::extract::FromRequest;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use reflector_app::AppError;
use reflector_platforms::PlatformError;
use reflector_store::StoreError;
use serde::de::DeserializeOwned;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: String,
    pub retry_after: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
    }

    /// 422 for an address (path or query) that no route can take.
    pub fn invalid_address(detail: &str) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not Found")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "detail": self.detail })),
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The one place where the application's errors become HTTP statuses.
impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        let detail = e.to_string();
        let (status, retry_after) = match &e {
            // The original answers 404 for audio deleted for consent, and clients rely on it.
            AppError::NotFound(_) | AppError::Gone(_) => (StatusCode::NOT_FOUND, None),
            AppError::Unauthenticated | AppError::BadCredentials(_) => {
                (StatusCode::UNAUTHORIZED, None)
            }
            AppError::Forbidden(_) => (StatusCode::FORBIDDEN, None),
            AppError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, None),
            AppError::Refused(_) => (StatusCode::BAD_REQUEST, None),
            AppError::Conflict(_) => (StatusCode::CONFLICT, None),
            AppError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, None),
            AppError::RateLimited { retry_after, .. } => {
                (StatusCode::TOO_MANY_REQUESTS, Some(*retry_after))
            }
            AppError::Busy { retry_after, .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, Some(*retry_after))
            }
            AppError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, None),
            AppError::Platform(p) => return platform_error(p),
            AppError::Store(StoreError::Duplicate(what)) => {
                return Self::new(StatusCode::BAD_REQUEST, *what);
            }
            AppError::Store(StoreError::Unstorable(what)) => {
                return Self::new(StatusCode::UNPROCESSABLE_ENTITY, *what);
            }
            AppError::Store(other) => {
                tracing::error!(error = %other, "database error");
                return Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The database is unavailable; try again shortly.",
                );
            }
            AppError::Job(job) => {
                tracing::error!(error = %job, "could not queue background work");
                return Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Could not record the work; try again shortly.",
                );
            }
        };
        Self {
            status,
            detail,
            retry_after,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        AppError::Store(e).into()
    }
}

impl From<PlatformError> for ApiError {
    fn from(e: PlatformError) -> Self {
        AppError::Platform(e).into()
    }
}

fn platform_error(e: &PlatformError) -> ApiError {
    let detail = e.to_string();
    let status = match e {
        PlatformError::NotConfigured { .. } | PlatformError::Unavailable { .. } => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        PlatformError::RateLimited { retry_after, .. } => {
            tracing::warn!(error = %e, "provider rate limit");
            return ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                detail,
                retry_after: Some(retry_after.map_or(5, |d| d.as_secs().max(1))),
            };
        }
        PlatformError::Unauthorized { .. }
        | PlatformError::NotFound { .. }
        | PlatformError::BadResponse { .. }
        | PlatformError::Rejected { .. } => StatusCode::BAD_GATEWAY,
        PlatformError::Unsupported { .. } | PlatformError::InvalidRequest { .. } => {
            StatusCode::BAD_REQUEST
        }
    };
    if status.is_server_error() {
        tracing::warn!(error = %e, "provider call failed");
    }
    ApiError::new(status, detail)
}

/// A JSON object body whose errors are `{"detail"}` answers: 422 for text that is not JSON, for
/// JSON that is not an object, for a value that does not fit (naming the field) and for text
/// holding the NUL character (which PostgreSQL cannot store, so both engines refuse it); 415
/// without a JSON content type, 413 when too large.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<serde_json::Value>::from_request(req, state)
            .await
            .map_err(json_rejection)?;
        parse_object(value)
    }
}

/// `value` as a `T`, when it is an object without NUL characters.
fn parse_object<T: DeserializeOwned>(value: serde_json::Value) -> Result<ApiJson<T>, ApiError> {
    if !value.is_object() {
        return Err(AppError::invalid("body", "expected a JSON object").into());
    }
    if let Some(path) = nul_at(&value) {
        let field = path.strip_prefix('.').unwrap_or(&path);
        let field = if field.is_empty() { "body" } else { field };
        return Err(
            AppError::invalid(field, "must not contain the NUL character (\\u0000)").into(),
        );
    }
    serde_path_to_error::deserialize(value)
        .map(ApiJson)
        .map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { "body" } else { &path };
            AppError::invalid(field, e.into_inner()).into()
        })
}

/// Where in `value` (as `.key` and `[index]` steps) a string or key holds a NUL.
fn nul_at(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => s.contains('\0').then(String::new),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_at(v).map(|rest| format!("[{i}]{rest}"))),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some(format!(".{k}"))
            } else {
                nul_at(v).map(|rest| format!(".{k}{rest}"))
            }
        }),
        _ => None,
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let (status, detail) = match &rejection {
        JsonRejection::MissingJsonContentType(_) => (
            rejection.status(),
            "Expected a JSON body with Content-Type: application/json".to_owned(),
        ),
        // 422 as the original (FastAPI) answers a body that does not parse.
        JsonRejection::JsonSyntaxError(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("Malformed JSON: {}", e.body_text()),
        ),
        JsonRejection::BytesRejection(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            (rejection.status(), "Request body is too large".to_owned())
        }
        other => (other.status(), other.body_text()),
    };
    ApiError::new(status, detail)
}

/// Query-string errors as 422 `{"detail"}` answers.
pub fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, rejection.body_text())
}

/// An optional JSON body: absent (no content type) or empty (nothing but white space) means
/// `None`; anything else must be valid.
impl<S: Send + Sync, T: DeserializeOwned> axum::extract::OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(
        req: axum::extract::Request,
        state: &S,
    ) -> Result<Option<Self>, ApiError> {
        if !req.headers().contains_key(header::CONTENT_TYPE) {
            return Ok(None);
        }
        let (parts, body) = req.into_parts();
        let bytes = axum::body::Bytes::from_request(
            axum::extract::Request::from_parts(parts.clone(), body),
            state,
        )
        .await
        .map_err(|e| json_rejection(JsonRejection::BytesRejection(e)))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let req = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
        <Self as FromRequest<S>>::from_request(req, state)
            .await
            .map(Some)
    }
}
