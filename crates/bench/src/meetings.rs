//! The `meetings` benchmark: start-up time, idle RSS, and `POST /v1/rooms/{name}/meeting` on its
//! reuse path at several concurrencies, with the in-process mock provider.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use crate::{Common, Server, database_label, extra_env_label, ms, percentile};

pub async fn run(common: &Common) -> anyhow::Result<()> {
    let requests = common.requests.unwrap_or(3000);
    let levels = common.concurrency.clone().unwrap_or_else(|| vec![1, 16]);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let server = Server::start(common, &[], &http).await?;
    tokio::time::sleep(Duration::from_secs(common.idle_seconds)).await;
    let idle_rss = server.rss_kib()?;
    let base = &server.base;

    // A fresh name, so the benchmark can run against a database that already has rooms.
    let room_name = format!("bench-{}", std::process::id());
    let room = http
        .post(format!("{base}/v1/rooms"))
        .json(&json!({"name": room_name}))
        .send()
        .await
        .context("creating the room")?;
    if !room.status().is_success() {
        bail!("creating the room failed: {}", room.text().await?);
    }
    let url = format!("{base}/v1/rooms/{room_name}/meeting");
    let first: serde_json::Value = http
        .post(&url)
        .json(&json!({}))
        .send()
        .await
        .context("creating the meeting")?
        .json()
        .await?;
    let meeting_id = first["id"].as_str().context("no meeting id")?.to_owned();

    println!(
        "reflector-bench meetings: {} (pid {}), {}, mock provider{}",
        server.path.display(),
        server.pid,
        database_label(common),
        extra_env_label(common)
    );
    println!("start-up to healthy: {:.0} ms", ms(server.ready));
    println!(
        "idle RSS after {} s: {:.1} MiB",
        common.idle_seconds,
        idle_rss as f64 / 1024.0
    );
    println!();
    println!("POST /v1/rooms/{{name}}/meeting, reuse path ({requests} requests per row)");
    println!(
        "{:>11} {:>10} {:>10} {:>10} {:>10} {:>12}",
        "concurrency", "p50 ms", "p99 ms", "max ms", "req/s", "errors"
    );
    for &concurrency in &levels {
        let concurrency = concurrency.max(1);
        let (times, errors, elapsed) =
            reuse_load(&http, &url, Some(&meeting_id), requests, concurrency).await?;
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
    println!(
        "RSS after load: {:.1} MiB",
        server.rss_kib()? as f64 / 1024.0
    );
    Ok(())
}

/// `requests` get-or-create calls on `url` from `concurrency` callers; an answer counts as an
/// error unless it is a 200 (with the meeting `expect`, when given). Returns the sorted answer
/// times, the errors and the wall time.
pub(crate) async fn reuse_load(
    http: &reqwest::Client,
    url: &str,
    expect: Option<&str>,
    requests: usize,
    concurrency: usize,
) -> anyhow::Result<(Vec<Duration>, usize, Duration)> {
    let wall = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|i| {
            let count = requests / concurrency + usize::from(i < requests % concurrency);
            let (http, url, expect) = (http.clone(), url.to_owned(), expect.map(str::to_owned));
            tokio::spawn(async move {
                let mut times = Vec::with_capacity(count);
                let mut errors = 0usize;
                for _ in 0..count {
                    let t = Instant::now();
                    let ok = match http.post(&url).json(&json!({})).send().await {
                        Ok(r) if r.status().is_success() => r
                            .json::<serde_json::Value>()
                            .await
                            .is_ok_and(|m| expect.as_deref().is_none_or(|id| m["id"] == id)),
                        _ => false,
                    };
                    times.push(t.elapsed());
                    errors += usize::from(!ok);
                }
                (times, errors)
            })
        })
        .collect();
    let mut times = Vec::with_capacity(requests);
    let mut errors = 0;
    for task in tasks {
        let (t, e) = task.await?;
        times.extend(t);
        errors += e;
    }
    let elapsed = wall.elapsed();
    times.sort();
    Ok((times, errors, elapsed))
}
