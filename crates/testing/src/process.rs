//! The real `reflector` binary as separate processes, as an operator runs it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when dropped, so a failing test leaves none behind.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `bin` with `args` and only the given environment (plus `RUST_LOG`).
pub fn spawn(bin: &str, args: &[&str], env: &[(&str, String)], log: &str) -> Process {
    Process(
        Command::new(bin)
            .args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", log)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    )
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `url/health` answers 200, at most 10 s.
pub async fn wait_healthy(url: &str) {
    let client = reqwest::Client::new();
    wait_until("the server is healthy", Duration::from_secs(10), || {
        let request = client.get(format!("{url}/health")).send();
        async move { matches!(request.await, Ok(r) if r.status() == 200) }
    })
    .await;
}

/// Creates the room `room` (the JSON of `POST /v1/rooms`) on the server at `base` and gets or
/// creates its meeting; returns the meeting's JSON. Panics unless both succeed.
pub async fn room_with_meeting(base: &str, room: &serde_json::Value) -> serde_json::Value {
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{base}/v1/rooms"))
        .json(room)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200, "creating the room {room}");
    let name = room["name"].as_str().unwrap();
    let meeting = http
        .post(format!("{base}/v1/rooms/{name}/meeting"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(meeting.status(), 200, "getting the meeting of {name}");
    meeting.json().await.unwrap()
}

/// Polls `check` every 20 ms until it holds; panics naming `what` after `limit`.
pub async fn wait_until<F: std::future::Future<Output = bool>>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> F,
) {
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
