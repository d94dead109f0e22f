//! Serving the built web app (`web/`, built by Vite into `WEB_DIST_DIR`) from the API's own
//! server, so one process and one port give the whole product.
//!
//! Every request the API routes do not answer lands here. Paths under the API's prefixes keep
//! their JSON `{"detail": "Not Found"}`; files with an extension (`/assets/index-abc123.js`,
//! `/favicon.svg`) are served from the directory or answered 404; every other `GET` is a page of
//! the single-page app (`/rooms`, `/{room_name}`, `/{room_name}/{meeting_id}`) and gets
//! `index.html`, whose script routes on the path. Without a built app, pages answer 503 with a
//! page that says how to build it, rather than a blank 404.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

use reflector_core::room::SERVER_PATHS;

use crate::error::ApiError;

/// Vite puts content-hashed files here: they never change under the same name.
const HASHED_ASSETS: &str = "assets";

struct Web {
    dist: PathBuf,
    /// First path segments that are never the app's: [`SERVER_PATHS`] and the providers' pages.
    server_paths: Vec<&'static str>,
}

/// The fallback service of the API router. `page_prefixes` are the first path segments of the
/// providers' own pages (`Registry::page_prefixes`), which keep their JSON 404 like the API's.
pub fn router(dist_dir: PathBuf, page_prefixes: Vec<&'static str>) -> Router {
    let server_paths = SERVER_PATHS.iter().copied().chain(page_prefixes).collect();
    Router::new().fallback(serve).with_state(Arc::new(Web {
        dist: dist_dir,
        server_paths,
    }))
}

async fn serve(State(web): State<Arc<Web>>, req: Request) -> Response {
    let dist = &web.dist;
    let path = req.uri().path().to_owned();
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    if web.server_paths.contains(&first) {
        return ApiError::not_found().into_response();
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return ApiError::method_not_allowed().into_response();
    }
    let last = path.rsplit('/').next().unwrap_or("");
    let is_file = first == HASHED_ASSETS || last.contains('.');
    let served = if is_file {
        ServeDir::new(dist.as_path()).oneshot(req).await
    } else {
        let index = dist.join("index.html");
        if !tokio::fs::metadata(&index).await.is_ok_and(|m| m.is_file()) {
            return not_built(dist);
        }
        ServeFile::new(index).oneshot(req).await
    };
    let response = match served {
        Ok(r) => r.map(Body::new),
        Err(never) => match never {},
    };
    with_caching(response, first == HASHED_ASSETS)
}

/// Hashed assets are cached for good; `index.html` is revalidated so a new build shows at once.
/// A 304 carries the same policy, as HTTP caches expect; nothing is content-sniffed.
fn with_caching(mut response: Response, hashed: bool) -> Response {
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
        let value = if hashed {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    }
    response
}

fn not_built(dist: &std::path::Path) -> Response {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        tracing::warn!(dir = %dist.display(), "web app not built: serving the build instructions");
    });
    let dir = html_escape(&dist.display().to_string());
    let body = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Reflector: web app not built</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}code{{background:#eef;padding:0 .25rem}}</style>
</head><body>
<h1>The web app is not built</h1>
<p>This server looks for the built web app in <code>{dir}</code> (the <code>WEB_DIST_DIR</code> setting) and found no <code>index.html</code> there.</p>
<p>Build it with <code>scripts/run</code>, which builds the web app and the server, or by hand with <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>.</p>
<p>The API works meanwhile: <a href="/openapi.json">/openapi.json</a>, <a href="/health">/health</a>.</p>
</body></html>"#
    );
    (StatusCode::SERVICE_UNAVAILABLE, Html(body)).into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
