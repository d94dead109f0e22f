//! What operators need of the HTTP layer (SPEC §11): request metrics by route, a time limit on
//! every request, the `/metrics` page, and serving connections with limits that slow or idle
//! clients cannot exhaust, stopping gracefully within a deadline.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use reflector_app::AppError;
use tokio::sync::{Semaphore, watch};

use crate::config::ConnectionLimits;
use crate::error::ApiError;
use crate::state::HttpState;

/// Renders the metrics collected by the process's recorder (Prometheus text format).
pub type RenderMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// The `/metrics` page: the process's recorder, plus gauges read from the database.
pub struct MetricsPage {
    render: RenderMetrics,
    gauges: reflector_app::metrics::Gauges,
}

impl MetricsPage {
    pub fn new(render: RenderMetrics) -> Self {
        Self {
            render,
            gauges: reflector_app::metrics::Gauges::default(),
        }
    }
}

/// `reflector_http_requests_total` and `reflector_http_request_duration_seconds`, by method,
/// route (the matched route pattern, never the raw path, so labels stay few) and status.
pub async fn record_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let elapsed = started.elapsed().as_secs_f64();
    metrics::counter!("reflector_http_requests_total", "method" => method, "route" => route.clone(), "status" => status.clone())
        .increment(1);
    metrics::histogram!("reflector_http_request_duration_seconds", "method" => method, "route" => route, "status" => status)
        .record(elapsed);
    response
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Answers 503 for a request not answered within `REQUEST_TIMEOUT_SECONDS`.
pub async fn time_limit(State(state): State<HttpState>, request: Request, next: Next) -> Response {
    let limit = state.settings.limits.request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::from(AppError::Unavailable(format!(
            "The request took longer than {} s (REQUEST_TIMEOUT_SECONDS); try again.",
            limit.as_secs()
        )))
        .into_response(),
    }
}

/// `GET /metrics`, on the API's router or on its own listener (`METRICS_LISTEN`).
pub fn metrics_router(state: HttpState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn metrics(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    let Some(page) = &state.metrics else {
        return ApiError::not_found().into_response();
    };
    if let Some(token) = &state.settings.metrics.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !constant_time_eq(given.as_bytes(), token.as_bytes()) {
            return ApiError::from(AppError::BadCredentials(
                "/metrics needs Authorization: Bearer with the METRICS_TOKEN".into(),
            ))
            .into_response();
        }
    }
    page.gauges.refresh(&state.app).await;
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        (page.render)(),
    )
        .into_response()
}

/// How many requests are being answered.
#[derive(Default)]
struct InFlight {
    count: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
}

struct Entered(Arc<InFlight>);

impl InFlight {
    fn enter(self: &Arc<Self>) -> Entered {
        self.count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Entered(self.clone())
    }

    async fn none(&self) {
        loop {
            let idle = self.idle.notified();
            if self.count.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }
}

/// A response body that counts as in flight until it is sent (or dropped).
struct CountedBody {
    body: axum::body::Body,
    _entered: Entered,
}

impl http_body::Body for CountedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        if self
            .0
            .count
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst)
            == 1
        {
            self.0.idle.notify_waiters();
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Serves `router` on `listener` until `shutdown`: at most `max_connections` at once (more wait
/// in the listen backlog), each closed when a request's headers do not arrive within
/// `header_read_timeout` (also the keep-alive idle limit). At shutdown it stops accepting, lets
/// in-flight requests finish for up to `shutdown_grace`, then closes what is left.
pub async fn serve_with_limits(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: &ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, mut stopping) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    // Requests being answered; at shutdown, once none is, connections left open (idle, or a
    // request that never finished its headers) are closed without waiting for them.
    let in_flight = Arc::new(InFlight::default());
    let counted = in_flight.clone();
    let router = router.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let counted = counted.clone();
            async move {
                let entered = counted.enter();
                // Counted until its body is sent, not only until the handler returns.
                next.run(request).await.map(|body| {
                    axum::body::Body::new(CountedBody {
                        body,
                        _entered: entered,
                    })
                })
            }
        },
    ));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            _ = stopping.wait_for(|s| *s) => break,
        };
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopping.wait_for(|s| *s) => break,
        };
        let (stream, _peer): (_, SocketAddr) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, or a connection reset before it was accepted:
                // wait a moment rather than spin, as axum::serve does.
                tracing::warn!(error = %e, "could not accept a connection");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let connection = http.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(router.clone()),
        );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    let started = Instant::now();
    tokio::select! {
        () = graceful.shutdown() => {
            tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "connections closed");
        }
        () = in_flight.none() => {
            tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "in-flight requests finished");
        }
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("requests still in flight after the shutdown grace period: closing their connections");
        }
    }
    Ok(())
}
