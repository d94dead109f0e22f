//! Graceful shutdown of real processes: SIGTERM stops a worker within its grace period, hands
//! its running job back so another worker continues at once (not after the lease), and exits 0;
//! a server finishes the request in flight and exits 0 with a half-sent request open.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::time::{Duration, Instant};

use reflector_app::Job;
use reflector_store::Store;
use reflector_testing::fakes::{FakeDaily, daily_room};
use reflector_testing::process::{
    Process, free_port, room_with_meeting, spawn, wait_healthy, wait_until,
};
use reflector_testing::{Db, TestDatabase};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const BIN: &str = env!("CARGO_BIN_EXE_reflector");
const ROOM: &str = "team-20260101000000-abcd";

/// One database shared by processes; PostgreSQL when configured.
async fn database() -> TestDatabase {
    match TestDatabase::postgres().await {
        Some(db) => db,
        None => Db::Sqlite.fresh().await,
    }
}

fn terminate(process: &Process) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &process.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for the process to exit (at most `limit`); its exit code.
async fn exit_code(process: &mut Process, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = process.0.try_wait().unwrap() {
            return status.code();
        }
        assert!(
            Instant::now() < deadline,
            "the process did not exit within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_hands_a_running_job_back_and_another_worker_continues_at_once() {
    let daily = FakeDaily::start(ROOM).await;
    // The presence call hangs (each attempt runs into the 10 s timeout): a slow job.
    Mock::given(method("GET"))
        .and(path(format!("/rooms/{ROOM}/presence")))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(120)))
        .mount(&daily)
        .await;
    let database = database().await;
    let port = free_port();
    let mut env = daily.env();
    env.extend([
        ("DATABASE_URL", database.url.clone()),
        ("PORT", port.to_string()),
        // Far longer than the test waits: a takeover after the lease would fail it.
        ("JOB_LEASE_SECONDS", "60".to_owned()),
        ("JOB_POLL_MILLISECONDS", "50".to_owned()),
        ("SHUTDOWN_GRACE_SECONDS", "1".to_owned()),
    ]);
    let api = spawn(BIN, &["serve", "--no-jobs"], &env, "error");
    let base = format!("http://127.0.0.1:{port}");
    wait_healthy(&base).await;
    let meeting = room_with_meeting(&base, &json!({"name": "team", "platform": "daily"})).await;
    drop(api);
    let store = Store::connect(&database.url).await.unwrap();
    let job = Job::ReconcilePresence {
        meeting_id: meeting["id"].as_str().unwrap().to_owned(),
    };
    let now = chrono::Utc::now();
    assert!(store.enqueue(&job.to_new(now), now).await.unwrap());

    let presence_calls = || async {
        daily
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path().ends_with("/presence"))
            .count()
    };
    let running = || {
        let store = store.clone();
        async move { store.job_counts().await.unwrap().running == 1 }
    };
    let mut first = spawn(BIN, &["worker"], &env, "info");
    wait_until(
        "the first worker runs the job",
        Duration::from_secs(20),
        running,
    )
    .await;
    wait_until("it calls the provider", Duration::from_secs(20), || async {
        presence_calls().await >= 1
    })
    .await;
    let signalled = Instant::now();
    terminate(&first);
    let code = exit_code(&mut first, Duration::from_secs(15)).await;
    let stopped_after = signalled.elapsed();
    assert_eq!(code, Some(0), "a worker stopped by SIGTERM exits 0");
    let leases = store.job_leases().await.unwrap();
    let handed_back = leases.iter().find(|j| j.status == "queued").unwrap();
    assert_eq!(
        handed_back.attempts, 0,
        "the stopped attempt is not counted: {leases:?}"
    );
    assert_eq!(handed_back.locked_until, None);

    let taken = Instant::now();
    let _second = spawn(BIN, &["worker"], &env, "error");
    wait_until(
        "the second worker continues the job (well before the 60 s lease)",
        Duration::from_secs(20),
        || async { presence_calls().await >= 2 },
    )
    .await;
    let continued_after = taken.elapsed();
    eprintln!(
        "SIGTERM → exit 0 in {} ms (grace 1 s); the second worker called the provider {} ms after it started",
        stopped_after.as_millis(),
        continued_after.as_millis()
    );
    store.close().await;
    database.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_lets_the_request_in_flight_finish_and_exits_0() {
    let daily = FakeDaily::start(ROOM).await;
    daily.server.reset().await;
    Mock::given(method("POST"))
        .and(path("/rooms"))
        .respond_with(daily_room(ROOM).set_delay(Duration::from_millis(1500)))
        .mount(&daily)
        .await;
    let database = database().await;
    let port = free_port();
    let mut env = daily.env();
    env.extend([
        ("DATABASE_URL", database.url.clone()),
        ("PORT", port.to_string()),
        ("SHUTDOWN_GRACE_SECONDS", "10".to_owned()),
    ]);
    let mut server = spawn(BIN, &["serve"], &env, "info");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_healthy(&base).await;
    let r = http
        .post(format!("{base}/v1/rooms"))
        .json(&json!({"name": "team", "platform": "daily"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A client that sends half a request and waits.
    let mut half = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    half.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // A request that takes 1.5 s at the provider.
    let in_flight = tokio::spawn({
        let http = http.clone();
        let url = format!("{base}/v1/rooms/team/meeting");
        async move {
            let r = http.post(url).json(&json!({})).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    });
    wait_until("the provider is asked", Duration::from_secs(10), || async {
        !daily.received_requests().await.unwrap().is_empty()
    })
    .await;
    let signalled = Instant::now();
    terminate(&server);
    let (status, body) = in_flight.await.unwrap();
    let answered_after = signalled.elapsed();
    assert_eq!(status, 200, "the request in flight is finished: {body}");
    let code = exit_code(&mut server, Duration::from_secs(30)).await;
    let exited_after = signalled.elapsed();
    assert_eq!(code, Some(0));
    assert!(
        http.get(format!("{base}/health")).send().await.is_err(),
        "nothing listens any more"
    );
    eprintln!(
        "SIGTERM → in-flight request answered 200 after {} ms, exit 0 after {} ms (half-sent request open)",
        answered_after.as_millis(),
        exited_after.as_millis()
    );
    database.drop_database().await;
}
