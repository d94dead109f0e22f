//! The web app is served by the API's server: its files, the single-page-app fallback for room
//! pages, JSON 404s kept for the API, and a clear page when the app was never built.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use reflector_testing::{Db, TestApp};
use reqwest::Method;
use serde_json::json;

fn built_app() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("index.html"),
        "<!doctype html><div id=root>reflector-spa</div>",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("assets/index-abc123.js"), "console.log(1)").unwrap();
    std::fs::write(dir.path().join("favicon.svg"), "<svg/>").unwrap();
    dir
}

async fn get_text(app: &TestApp, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let r = app.req(Method::GET, path).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, r.text().await.unwrap(), headers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_get_the_app_and_api_paths_keep_json_errors() {
    let dist = built_app();
    let dir = dist.path().display().to_string();
    let app = TestApp::spawn(Db::Sqlite, &[("WEB_DIST_DIR", &dir)]).await;

    for page in [
        "/",
        "/rooms",
        "/team-standup",
        "/team-standup/4ad503b6-8189",
    ] {
        let (status, body, headers) = get_text(&app, page).await;
        assert_eq!(status, 200, "{page}");
        assert!(body.contains("reflector-spa"), "{page}: {body}");
        assert_eq!(headers["cache-control"], "no-cache", "{page}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }

    let (status, body, headers) = get_text(&app, "/assets/index-abc123.js").await;
    assert_eq!((status, body.as_str()), (200, "console.log(1)"));
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let (status, _, _) = get_text(&app, "/favicon.svg").await;
    assert_eq!(status, 200);
    // A missing script must not be answered with the HTML page.
    let (status, body, _) = get_text(&app, "/assets/missing-123.js").await;
    assert_eq!(status, 404);
    assert!(!body.contains("reflector-spa"));
    // Conditional requests: a revalidated page gets 304 with the same caching policy.
    let (_, _, headers) = get_text(&app, "/favicon.svg").await;
    let modified = headers["last-modified"].clone();
    let again = app
        .req(Method::GET, "/favicon.svg")
        .header("if-modified-since", modified)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["cache-control"], "no-cache");
    assert_eq!(again.headers()["x-content-type-options"], "nosniff");
    let head = app.req(Method::HEAD, "/team-standup").send().await.unwrap();
    assert_eq!(head.status(), 200);

    // The API's own answers and 404s are untouched.
    assert_eq!(
        app.get("/health").await,
        (200, json!({"status": "healthy"}))
    );
    assert_eq!(
        app.get("/v1/nothing-here").await,
        (404, json!({"detail": "Not Found"})),
        "v1 path"
    );
    assert_eq!(
        app.get("/mock-video/no-such-room/sessions/x/y").await,
        (404, json!({"detail": "Not Found"})),
        "mock-video path"
    );
    let (status, doc) = app.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["paths"]["/v1/rooms"].is_object());
    let (status, body) = app
        .call(Method::POST, "/team-standup", None, Some(json!({})))
        .await;
    assert_eq!(
        (status, body),
        (405, json!({"detail": "Method Not Allowed"}))
    );
    app.stop().await;
}

/// Sends `target` exactly as written (HTTP clients would normalise the dots away) and returns
/// the raw answer.
async fn raw_get(url: &str, target: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_outside_the_app_directory_are_never_served() {
    let outer = built_app();
    std::fs::write(outer.path().join("secret.txt"), "top-secret").unwrap();
    let dist = outer.path().join("dist");
    std::fs::create_dir_all(dist.join("assets")).unwrap();
    std::fs::write(dist.join("index.html"), "reflector-spa").unwrap();
    let dir = dist.display().to_string();
    let app = TestApp::spawn(Db::Sqlite, &[("WEB_DIST_DIR", &dir)]).await;
    for target in [
        "/assets/../../secret.txt",
        "/assets/..%2f..%2fsecret.txt",
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/../secret.txt",
        "/%2e%2e/secret.txt",
    ] {
        let answer = raw_get(&app.url, target).await;
        assert!(answer.starts_with("HTTP/1.1 "), "{target}: {answer}");
        assert!(!answer.contains("top-secret"), "{target}: {answer}");
        assert!(!answer.starts_with("HTTP/1.1 5"), "{target}: {answer}");
    }
    // Raw requests do reach the app's own files, so the checks above can fail.
    std::fs::write(dist.join("assets/inside.txt"), "inside-file").unwrap();
    let inside = raw_get(&app.url, "/assets/inside.txt").await;
    assert!(inside.contains("inside-file"), "{inside}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_build_pages_say_how_to_build_it() {
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().join("dist").display().to_string();
    let app = TestApp::spawn(Db::Sqlite, &[("WEB_DIST_DIR", &dir)]).await;
    let (status, body, _) = get_text(&app, "/team-standup").await;
    assert_eq!(status, 503);
    assert!(body.contains("npm run build"), "{body}");
    assert!(body.contains("WEB_DIST_DIR"), "{body}");
    assert_eq!(
        app.get("/v1/nothing-here").await,
        (404, json!({"detail": "Not Found"})),
        "v1 path"
    );
    app.stop().await;
}

/// The room form shows the name rules while typing (web/src/roomName.ts); they must be the
/// server's, or the form would accept names the server refuses and the other way round.
#[test]
fn the_web_forms_room_name_rules_are_the_servers() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/src/roomName.ts");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("export const RESERVED = [").unwrap();
    let end = start + text[start..].find("];").unwrap();
    let names: Vec<&str> = text[start..end].split('"').skip(1).step_by(2).collect();
    assert_eq!(
        names,
        reflector_core::room::RESERVED_ROOM_NAMES,
        "update RESERVED in web/src/roomName.ts"
    );
    let max_len = format!("MAX_LEN = {};", reflector_core::room::ROOM_NAME_MAX_LEN);
    assert!(
        text.contains(&max_len),
        "update MAX_LEN in web/src/roomName.ts"
    );
}
