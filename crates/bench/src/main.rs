//! `reflector-bench`: starts `reflector serve` (release build, embedded defaults, a fresh data
//! folder) as a child process, and measures it from this process over loopback HTTP:
//! idle memory (RSS), and the latency of `POST /v1/rooms/{name}/meeting` on its reuse path at
//! several concurrencies. Prints figures; asserts nothing.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// The server binary to measure.
    #[arg(long, default_value = "target/release/reflector")]
    server: PathBuf,
    /// Requests per concurrency level.
    #[arg(long, default_value_t = 3000)]
    requests: usize,
    /// Concurrency levels to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    concurrency: Vec<usize>,
    /// Database to run on (default: SQLite in a fresh data folder), e.g. postgres://…
    #[arg(long)]
    database_url: Option<String>,
    /// Seconds to let the server sit idle before reading its memory.
    #[arg(long, default_value_t = 3)]
    idle_seconds: u64,
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS in /proc status")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.requests == 0 {
        bail!("--requests must be at least 1");
    }
    let data = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut command = Command::new(&args.server);
    command
        .arg("serve")
        .env_clear()
        .env("DATA_DIR", data.path());
    if let Some(url) = &args.database_url {
        command.env("DATABASE_URL", url);
    }
    let child = command
        .env("PORT", port.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| {
            format!(
                "cannot start {} (build it with cargo build --release)",
                args.server.display()
            )
        })?;
    let pid = child.id();
    let _server = Server(child);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;

    let started = Instant::now();
    loop {
        if let Ok(r) = http.get(format!("{base}/health")).send().await
            && r.status().is_success()
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the server did not become healthy within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ready = started.elapsed();
    tokio::time::sleep(Duration::from_secs(args.idle_seconds)).await;
    let idle_rss = rss_kib(pid)?;

    // A fresh name, so the benchmark can run against a database that already has rooms.
    let room_name = format!("bench-{}", std::process::id());
    let room = http
        .post(format!("{base}/v1/rooms"))
        .json(&json!({"name": room_name}))
        .send()
        .await?;
    if !room.status().is_success() {
        bail!("creating the room failed: {}", room.text().await?);
    }
    let url = format!("{base}/v1/rooms/{room_name}/meeting");
    let first: serde_json::Value = http
        .post(&url)
        .json(&json!({}))
        .send()
        .await?
        .json()
        .await?;
    let meeting_id = first["id"].as_str().context("no meeting id")?.to_owned();

    println!(
        "reflector-bench: {} (pid {pid}), SQLite in a fresh DATA_DIR, mock provider",
        args.server.display()
    );
    println!(
        "start-up to healthy: {:.0} ms",
        ready.as_secs_f64() * 1000.0
    );
    println!(
        "idle RSS after {} s: {:.1} MiB",
        args.idle_seconds,
        idle_rss as f64 / 1024.0
    );
    println!();
    println!(
        "POST /v1/rooms/{{name}}/meeting, reuse path ({} requests per row)",
        args.requests
    );
    println!(
        "{:>11} {:>10} {:>10} {:>10} {:>10} {:>12}",
        "concurrency", "p50 ms", "p99 ms", "max ms", "req/s", "errors"
    );
    for &concurrency in &args.concurrency {
        let concurrency = concurrency.max(1);
        let per_task = args.requests.div_ceil(concurrency);
        let wall = Instant::now();
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let (http, url, meeting_id) = (http.clone(), url.clone(), meeting_id.clone());
                tokio::spawn(async move {
                    let mut times = Vec::with_capacity(per_task);
                    let mut errors = 0usize;
                    for _ in 0..per_task {
                        let t = Instant::now();
                        let ok = match http.post(&url).json(&json!({})).send().await {
                            Ok(r) if r.status().is_success() => r
                                .json::<serde_json::Value>()
                                .await
                                .is_ok_and(|m| m["id"] == meeting_id.as_str()),
                            _ => false,
                        };
                        times.push(t.elapsed());
                        errors += usize::from(!ok);
                    }
                    (times, errors)
                })
            })
            .collect();
        let mut times = Vec::new();
        let mut errors = 0;
        for task in tasks {
            let (t, e) = task.await?;
            times.extend(t);
            errors += e;
        }
        let elapsed = wall.elapsed();
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{:>11} {:>10.2} {:>10.2} {:>10.2} {:>10.0} {:>12}",
            concurrency,
            ms(percentile(&times, 50.0)),
            ms(percentile(&times, 99.0)),
            ms(*times.last().unwrap_or(&Duration::ZERO)),
            times.len() as f64 / elapsed.as_secs_f64(),
            errors
        );
    }
    println!();
    println!("RSS after load: {:.1} MiB", rss_kib(pid)? as f64 / 1024.0);
    Ok(())
}
