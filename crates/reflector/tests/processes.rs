//! The real binary, as an operator runs it: start-up errors, and two `reflector serve` processes
//! sharing one database that must still create exactly one meeting for 50 concurrent visitors.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::process::{Command, Stdio};
use std::time::Duration;

use reflector_testing::fakes::whereby_meeting;
use reflector_testing::process::{Process, free_port, wait_healthy};
use reflector_testing::{Db, TestDatabase};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

const BIN: &str = env!("CARGO_BIN_EXE_reflector");

struct Server {
    _process: Process,
    url: String,
}

async fn start(env: &[(&str, &str)], dir: &std::path::Path) -> Server {
    let port = free_port();
    let child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .env("PORT", port.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let process = Process(child);
    let url = format!("http://127.0.0.1:{port}");
    wait_healthy(&url).await;
    Server {
        _process: process,
        url,
    }
}

#[test]
fn a_bad_setting_stops_start_up_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("PORT", "eighty"),
        ("DEFAULT_VIDEO_PLATFORM", "daily"),
        ("DAILY_WEBHOOK_SECRET", "not base64!"),
        ("AUTH_BACKEND", "ldap"),
    ] {
        let out = Command::new(BIN)
            .arg("serve")
            .current_dir(dir.path())
            .env_clear()
            .env(var, value)
            .env(
                "DAILY_API_KEY",
                if var == "DAILY_WEBHOOK_SECRET" {
                    "k"
                } else {
                    ""
                },
            )
            .output()
            .unwrap();
        assert!(!out.status.success(), "{var}={value} must stop start-up");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line for {var}: {stderr}");
        assert!(lines[0].contains(var), "{var} is named: {stderr}");
    }
}

#[test]
fn a_dotenv_file_fills_in_what_the_environment_does_not_set() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "PORT=not-a-port\nDATA_DIR=./state\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("migrate")
        .current_dir(dir.path())
        .env_clear()
        .output()
        .unwrap();
    assert!(!out.status.success(), "PORT from .env is read");
    assert!(String::from_utf8_lossy(&out.stderr).contains("PORT"));
    // The environment wins over .env.
    let out = Command::new(BIN)
        .arg("migrate")
        .current_dir(dir.path())
        .env_clear()
        .env("PORT", "1250")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        dir.path().join("state/reflector.db").exists(),
        "DATA_DIR from .env is used"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_on_one_database_create_one_meeting() {
    let whereby = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/meetings"))
        .respond_with(whereby_meeting().set_delay(Duration::from_millis(300)))
        .expect(1)
        .mount(&whereby)
        .await;

    // PostgreSQL when TEST_DATABASE_URL is set (production's shape), else one SQLite file.
    let database = match TestDatabase::postgres().await {
        Some(db) => db,
        None => Db::Sqlite.fresh().await,
    };
    let dir = tempfile::tempdir().unwrap();
    let uri = whereby.uri();
    let env = [
        ("DATABASE_URL", database.url.as_str()),
        ("WHEREBY_API_KEY", "wb-key"),
        ("WHEREBY_API_URL", uri.as_str()),
    ];
    let a = start(&env, dir.path()).await;
    let b = start(&env, dir.path()).await;
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{}/v1/rooms", a.url))
        .json(&json!({"name": "team", "recording_type": "none"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);

    let calls: Vec<_> = (0..50)
        .map(|i| {
            let url = format!(
                "{}/v1/rooms/team/meeting",
                if i % 2 == 0 { &a.url } else { &b.url }
            );
            let http = http.clone();
            tokio::spawn(async move {
                let r = http.post(url).json(&json!({})).send().await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for call in calls {
        let (status, body) = call.await.unwrap();
        assert_eq!(status, 200, "{body}");
        ids.insert(body["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "both processes hand out the same meeting");
    whereby.verify().await;
    drop((a, b));
    database.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_rooms_with_fifty_concurrent_visitors_on_two_processes_get_one_meeting_each() {
    let daily = reflector_testing::fakes::fake_daily_echoing_rooms().await;
    let database = match TestDatabase::postgres().await {
        Some(db) => db,
        None => Db::Sqlite.fresh().await,
    };
    let dir = tempfile::tempdir().unwrap();
    let uri = daily.uri();
    let env = [
        ("DATABASE_URL", database.url.as_str()),
        ("DAILY_API_KEY", "d-key"),
        ("DAILY_API_URL", uri.as_str()),
    ];
    let a = start(&env, dir.path()).await;
    let b = start(&env, dir.path()).await;
    let http = reqwest::Client::new();
    const ROOMS: usize = 20;
    const VISITORS: usize = 50;
    for r in 0..ROOMS {
        let created = http
            .post(format!("{}/v1/rooms", a.url))
            .json(&json!({"name": format!("room-{r:02}"), "platform": "daily"}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 200);
    }
    let calls: Vec<_> = (0..ROOMS * VISITORS)
        .map(|i| {
            let room = format!("room-{:02}", i % ROOMS);
            let base = if i % 2 == 0 { &a.url } else { &b.url };
            let url = format!("{base}/v1/rooms/{room}/meeting");
            let http = http.clone();
            tokio::spawn(async move {
                let r = http.post(url).json(&json!({})).send().await.unwrap();
                (room, r.status().as_u16(), r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut ids: std::collections::HashMap<String, std::collections::HashSet<String>> =
        std::collections::HashMap::new();
    for call in calls {
        let (room, status, body) = call.await.unwrap();
        assert_eq!(status, 200, "{room}: {body}");
        ids.entry(room)
            .or_default()
            .insert(body["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), ROOMS);
    for (room, meetings) in &ids {
        assert_eq!(
            meetings.len(),
            1,
            "{room}: every visitor gets the same meeting"
        );
    }
    let mut created: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for request in daily.received_requests().await.unwrap() {
        if request.method.as_str() == "POST" && request.url.path() == "/rooms" {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            let name = body["name"].as_str().unwrap();
            *created.entry(name[..7].to_owned()).or_default() += 1;
        }
    }
    assert_eq!(created.len(), ROOMS, "{created:?}");
    assert!(
        created.values().all(|n| *n == 1),
        "exactly one provider meeting per room: {created:?}"
    );
    drop((a, b));
    database.drop_database().await;
}
