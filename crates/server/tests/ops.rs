//! What operators rely on: the metrics page (what it counts, who may read it), and limits that
//! slow or idle clients cannot get around — over real HTTP and real sockets.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::time::{Duration, Instant};

use chrono::Utc;
use reflector_testing::fakes::{DAILY_SECRET, FakeDaily, daily_event, daily_signature};
use reflector_testing::{Db, TestApp, on_both_databases};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

on_both_databases!(the_metrics_page_counts_what_an_operator_asks_first);

const ROOM: &str = "team-20260101000000-abcd";

async fn daily_app(daily: &FakeDaily, db: Db, extra: &[(&str, &str)]) -> TestApp {
    let mut env: Vec<(&str, String)> = daily.env();
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    TestApp::spawn(db, &env).await
}

async fn send_daily(app: &TestApp, body: &Value, secret: &str) -> u16 {
    let raw = body.to_string();
    let ts = Utc::now().timestamp();
    app.req(Method::POST, "/v1/daily/webhook")
        .header("x-webhook-timestamp", ts.to_string())
        .header(
            "x-webhook-signature",
            daily_signature(secret, ts, raw.as_bytes()),
        )
        .body(raw)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The value of the sample `name{labels…}` on the page (labels in any order), if present.
fn sample(page: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            let Some(rest) = l.strip_prefix(name) else {
                return false;
            };
            (rest.starts_with('{') || rest.starts_with(' '))
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn metrics_page(app: &TestApp) -> String {
    let response = app.req(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    response.text().await.unwrap()
}

async fn the_metrics_page_counts_what_an_operator_asks_first(db: Db) {
    let daily = FakeDaily::start(ROOM).await;
    daily.present(&[("s-1", "Ada")]).await;
    let app = daily_app(&daily, db, &[]).await;
    app.room(json!({"name": "team", "platform": "daily"})).await;
    let (status, meeting) = app.post("/v1/rooms/team/meeting", json!({})).await;
    assert_eq!(status, 200, "{meeting}");
    assert_eq!(app.get("/v1/rooms/nobody").await.0, 404);
    // The meeting's start needs its job, and the join after it waits for that job.
    let started = daily_event("evt-0", "meeting.started", ROOM, "-");
    assert_eq!(send_daily(&app, &started, DAILY_SECRET).await, 200);
    let joined = daily_event("evt-1", "participant.joined", ROOM, "s-1");
    assert_eq!(send_daily(&app, &joined, DAILY_SECRET).await, 200);
    assert_eq!(send_daily(&app, &joined, DAILY_SECRET).await, 200);
    let wrong = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE=";
    assert_eq!(send_daily(&app, &joined, wrong).await, 401);

    // Before the jobs run: the meeting's one apply job is due.
    let page = metrics_page(&app).await;
    eprintln!("{page}");
    let due = [("kind", "apply_meeting_events"), ("state", "due")];
    assert_eq!(sample(&page, "reflector_jobs", &due), Some(1.0));
    assert!(
        sample(
            &page,
            "reflector_job_oldest_due_age_seconds",
            &[("kind", "apply_meeting_events")]
        )
        .unwrap()
            >= 0.0
    );
    assert_eq!(sample(&page, "reflector_open_meetings", &[]), Some(1.0));
    assert_eq!(sample(&page, "reflector_open_participants", &[]), Some(0.0));

    app.run_jobs().await;
    let page = metrics_page(&app).await;
    let http = |route: &str, method: &str, status: &str| {
        sample(
            &page,
            "reflector_http_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
    };
    assert_eq!(http("/v1/rooms", "POST", "200"), Some(1.0));
    assert_eq!(
        http("/v1/rooms/{room_name}/meeting", "POST", "200"),
        Some(1.0)
    );
    // The route's pattern, never the raw path.
    assert_eq!(http("/v1/rooms/{room_id}", "GET", "404"), Some(1.0));
    assert!(!page.contains("/v1/rooms/nobody"));
    assert_eq!(http("/v1/daily/webhook", "POST", "200"), Some(3.0));
    assert_eq!(http("/v1/daily/webhook", "POST", "401"), Some(1.0));
    assert!(
        sample(
            &page,
            "reflector_http_request_duration_seconds_count",
            &[("route", "/v1/daily/webhook"), ("status", "200")]
        ) == Some(3.0)
    );
    assert!(page.contains("reflector_http_request_duration_seconds_bucket{"));
    let webhooks = |outcome: &str| {
        sample(
            &page,
            "reflector_provider_webhooks_total",
            &[("provider", "daily"), ("outcome", outcome)],
        )
    };
    assert_eq!(webhooks("new"), Some(2.0));
    // Each delivery here was a batch of its own (they were sent one after another).
    assert_eq!(
        sample(
            &page,
            "reflector_inbox_batch_seconds_count",
            &[("outcome", "stored")]
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(&page, "reflector_inbox_batch_events_sum", &[]),
        Some(3.0)
    );
    assert_eq!(webhooks("duplicate"), Some(1.0));
    assert_eq!(webhooks("rejected"), Some(1.0));
    let calls = sample(
        &page,
        "reflector_provider_calls_total",
        &[
            ("provider", "daily"),
            ("operation", "POST /rooms"),
            ("outcome", "ok"),
        ],
    );
    assert_eq!(calls, Some(1.0));
    assert!(page.contains("reflector_provider_call_duration_seconds_bucket{"));
    let finished = sample(
        &page,
        "reflector_jobs_finished_total",
        &[("kind", "apply_meeting_events"), ("outcome", "done")],
    );
    assert_eq!(finished, Some(1.0));
    assert!(page.contains("reflector_job_wait_seconds_bucket{"));
    // The job ran: nothing due any more; the participant is counted.
    assert_eq!(sample(&page, "reflector_jobs", &due), Some(0.0));
    assert_eq!(sample(&page, "reflector_open_participants", &[]), Some(1.0));
    // The presence check it queued waits 5 s.
    assert_eq!(
        sample(
            &page,
            "reflector_jobs",
            &[("kind", "reconcile_presence"), ("state", "scheduled")]
        ),
        Some(1.0)
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_need_the_token_when_one_is_set() {
    let app = TestApp::spawn(Db::Sqlite, &[("METRICS_TOKEN", "m-secret")]).await;
    let r = app.req(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let detail: Value = r.json().await.unwrap();
    assert!(
        detail["detail"].as_str().unwrap().contains("METRICS_TOKEN"),
        "{detail}"
    );
    let r = app
        .req(Method::GET, "/metrics")
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .req(Method::GET, "/metrics")
        .bearer_auth("m-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("reflector_open_meetings"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_on_their_own_address_are_not_on_the_api_port() {
    let port = reflector_testing::process::free_port();
    let listen = format!("127.0.0.1:{port}");
    let app = TestApp::spawn(Db::Sqlite, &[("METRICS_LISTEN", &listen)]).await;
    assert_eq!(app.get("/metrics").await.0, 404);
    let page = reqwest::get(format!("http://{listen}/metrics"))
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("reflector_open_meetings")
    );
    app.stop().await;
}

/// Connects and sends the start of a request, never its end.
async fn half_sent_request(app: &TestApp) -> tokio::net::TcpStream {
    let address = app.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    stream
}

/// Whether the server closed `stream` within `limit` (reads end, with or without an answer).
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline.into(), stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {} // e.g. a 408 before closing
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_half_sent_request_is_dropped_after_the_header_timeout() {
    let app = TestApp::spawn(Db::Sqlite, &[("HEADER_READ_TIMEOUT_SECONDS", "1")]).await;
    let mut slow = half_sent_request(&app).await;
    let started = Instant::now();
    // Far below the 75 s such a connection used to stay open; the timeout is 1 s.
    assert!(
        closed_within(&mut slow, Duration::from_secs(15)).await,
        "the server still holds a connection that never finished its headers"
    );
    eprintln!("half-sent request closed after {:?}", started.elapsed());
    // An idle keep-alive connection is closed the same way.
    let address = app.url.trim_start_matches("http://");
    let mut idle = tokio::net::TcpStream::connect(address).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(closed_within(&mut idle, Duration::from_secs(15)).await);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_beyond_the_cap_wait_and_slow_ones_cannot_hold_it() {
    let app = TestApp::spawn(
        Db::Sqlite,
        &[
            ("MAX_CONNECTIONS", "2"),
            ("HEADER_READ_TIMEOUT_SECONDS", "1"),
        ],
    )
    .await;
    // Two slow clients take every slot; a third caller waits until the header timeout frees
    // one, then is answered.
    let _a = half_sent_request(&app).await;
    let _b = half_sent_request(&app).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let health = tokio::time::timeout(Duration::from_secs(15), app.get("/health"))
        .await
        .expect("/health must be answered once a slow client's slot is freed");
    assert_eq!(health.0, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_over_the_time_limit_gets_503_and_the_meeting_is_still_made_whole() {
    let daily = FakeDaily::start(ROOM).await;
    daily.server.reset().await;
    Mock::given(method("POST"))
        .and(path("/rooms"))
        .respond_with(
            // Longer than the request may take, shorter than the provider call's timeout.
            reflector_testing::fakes::daily_room(ROOM).set_delay(Duration::from_millis(1500)),
        )
        .mount(&daily)
        .await;
    let app = daily_app(&daily, Db::Sqlite, &[("REQUEST_TIMEOUT_SECONDS", "1")]).await;
    app.room(json!({"name": "team", "platform": "daily"})).await;
    let (status, body) = app.post("/v1/rooms/team/meeting", json!({})).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("REQUEST_TIMEOUT_SECONDS"),
        "{body}"
    );
    // The creation the timed-out request started still completes, and stores its meeting: no
    // provider room without a meeting; the next visitor gets that meeting.
    reflector_testing::process::wait_until(
        "the started creation is stored",
        Duration::from_secs(15),
        || async {
            app.get("/v1/rooms/team/meetings/active")
                .await
                .1
                .as_array()
                .is_some_and(|a| a.len() == 1)
        },
    )
    .await;
    let created = daily
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/rooms")
        .count();
    assert_eq!(created, 1, "one provider room");
    let (status, again) = app.post("/v1/rooms/team/meeting", json!({})).await;
    assert_eq!(status, 200, "{again}");
    let (_, active) = app.get("/v1/rooms/team/meetings/active").await;
    assert_eq!(again["id"], active[0]["id"]);
    let _ = ResponseTemplate::new(200);
    app.stop().await;
}
