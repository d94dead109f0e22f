//! What keeps a single-user instance (`AUTH_BACKEND=none`, where every caller is the owner) from
//! being driven by the web pages its user visits. A page elsewhere may send requests to
//! `localhost`; with permissive CORS it could read the answers (`webhook_secret`) and change
//! rooms, and through DNS rebinding (its own host name re-pointed at 127.0.0.1) it could do so
//! as a same-origin page even without CORS. So in this mode:
//! - no permissive CORS is sent (only origins listed explicitly in `CORS_ORIGIN`);
//! - a request whose `Host` is not one of ours is refused: the hosts of `BASE_URL` and
//!   `UI_BASE_URL`, `localhost`, and loopback addresses;
//! - a request whose `Origin` is not one of ours (or a listed CORS origin) is refused, so a
//!   cross-site form or `fetch` cannot change anything either.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use url::{Host, Url};

/// The host names a single-user instance answers to, and the origins it accepts requests from.
#[derive(Debug, Clone)]
pub struct LocalGuard {
    hosts: Vec<String>,
    origins: Vec<String>,
}

impl LocalGuard {
    /// `public_hosts`: the host names of `BASE_URL` and `UI_BASE_URL`; `cors_origins`: the
    /// origins `CORS_ORIGIN` lists explicitly.
    pub fn new(public_hosts: &[String], cors_origins: &[String]) -> Self {
        Self {
            hosts: public_hosts
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            origins: cors_origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        }
    }

    fn host_allowed(&self, host: &Host<&str>) -> bool {
        match host {
            Host::Domain(name) => {
                let name = name.to_ascii_lowercase();
                name == "localhost" || self.hosts.contains(&name)
            }
            Host::Ipv4(ip) => ip.is_loopback() || self.hosts.contains(&ip.to_string()),
            Host::Ipv6(ip) => ip.is_loopback() || self.hosts.contains(&format!("[{ip}]")),
        }
    }

    /// Whether an `authority` (`host[:port]`, as in a `Host` header) names this server.
    fn authority_allowed(&self, authority: &str) -> bool {
        // The usual case, an IPv4 address the standard library reads (its strict form, which
        // a URL parser reads the same), needs no URL built: that was 3 % of a webhook's
        // instructions. Anything else (names, IPv6, other spellings) goes through the parser.
        if let Ok(parsed) = authority.parse::<axum::http::uri::Authority>()
            && let Ok(ip) = parsed.host().parse::<std::net::Ipv4Addr>()
        {
            return self.host_allowed(&Host::Ipv4(ip));
        }
        Url::parse(&format!("http://{authority}/"))
            .ok()
            .is_some_and(|url| url.host().is_some_and(|h| self.host_allowed(&h)))
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        if self
            .origins
            .contains(&origin.trim_end_matches('/').to_ascii_lowercase())
        {
            return true;
        }
        Url::parse(origin).ok().is_some_and(|url| {
            matches!(url.scheme(), "http" | "https")
                && url.host().is_some_and(|h| self.host_allowed(&h))
        })
    }
}

/// The host name of a public URL, as [`LocalGuard`] compares them.
pub fn host_of(url: &str) -> Option<String> {
    Url::parse(url)
        .ok()?
        .host_str()
        .map(str::to_ascii_lowercase)
}

pub async fn guard(State(guard): State<Arc<LocalGuard>>, request: Request, next: Next) -> Response {
    let authority = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.to_string()));
    match authority {
        Some(authority) if guard.authority_allowed(&authority) => {}
        Some(authority) => {
            return refuse(format!(
                "Host {authority:?} is not this server's. In single-user mode (AUTH_BACKEND=none) \
                 only the hosts of BASE_URL and UI_BASE_URL, localhost and loopback addresses \
                 are served; set BASE_URL to the address you open."
            ));
        }
        None => return refuse("A Host header is required".to_owned()),
    }
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let allowed = origin.to_str().is_ok_and(|o| guard.origin_allowed(o));
        if !allowed {
            return refuse(
                "Requests from other sites are refused in single-user mode (AUTH_BACKEND=none); \
                 list trusted origins in CORS_ORIGIN"
                    .to_owned(),
            );
        }
    }
    next.run(request).await
}

fn refuse(detail: String) -> Response {
    (
        StatusCode::FORBIDDEN,
        axum::Json(serde_json::json!({ "detail": detail })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> LocalGuard {
        LocalGuard::new(
            &["reflector.example.org".into(), "ui.example.org".into()],
            &["https://tools.example.com".into()],
        )
    }

    #[test]
    fn only_our_hosts_and_loopback_are_served() {
        let g = guard();
        for ok in [
            "reflector.example.org",
            "Reflector.Example.org:443",
            "ui.example.org:8080",
            "localhost:1250",
            "127.0.0.1:1250",
            "127.5.0.1",
            "[::1]:1250",
            // Read by the URL parser, as a browser reads it.
            "0x7f.0.0.1:1250",
        ] {
            assert!(g.authority_allowed(ok), "{ok}");
        }
        for refused in [
            "evil.example",
            "reflector.example.org.evil.example",
            "192.168.1.5:1250",
            "10.0.0.1",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "",
            "a b",
        ] {
            assert!(!g.authority_allowed(refused), "{refused}");
        }
    }

    #[test]
    fn only_our_origins_and_listed_ones_may_call() {
        let g = guard();
        for ok in [
            "https://ui.example.org",
            "http://localhost:5173",
            "http://127.0.0.1:1250",
            "https://tools.example.com",
        ] {
            assert!(g.origin_allowed(ok), "{ok}");
        }
        for refused in [
            "https://evil.example",
            "null",
            "file://",
            "https://tools.example.com.evil",
        ] {
            assert!(!g.origin_allowed(refused), "{refused}");
        }
    }
}
