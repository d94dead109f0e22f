//! The `signatures` benchmark: what an unsigned webhook with an oversized signature header costs
//! the server. Whereby's `Whereby-Signature` may list several `v1=` entries; an attacker sends
//! thousands, with a body just under the 1 MiB limit, to `POST /v1/whereby`. Each request is
//! answered 401 (nothing is signed with the real secret); this measures how long the answer takes,
//! which is the server's CPU time for it, for several entry counts. A Daily request with a 1 MiB
//! body and a bad signature is measured alongside.

use std::time::{Duration, Instant};

use anyhow::bail;

use crate::{Common, Server, ms, percentile};

#[derive(clap::Args)]
pub struct Options {
    /// Counts of full-length `v1=<64 hex>` entries to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,1000,5000")]
    entries: Vec<usize>,
    /// Then this many short entries (`v1=00`, for which the old verifier still computed a MAC),
    /// about as many as fit in the server's header limit; 0 skips it.
    #[arg(long, default_value_t = 60_000)]
    short_entries: usize,
}
/// Requests per configuration (`--requests` changes it); the median is reported.
const SAMPLES: usize = 5;

pub async fn run(common: &Common, options: &Options) -> anyhow::Result<()> {
    let count = common.requests.unwrap_or(SAMPLES);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let env = [
        ("WHEREBY_API_KEY", "bench-key".to_owned()),
        // Never called: no meeting is created.
        ("WHEREBY_API_URL", "http://127.0.0.1:9/v1".to_owned()),
        ("WHEREBY_WEBHOOK_SECRET", "bench-secret".to_owned()),
        ("DAILY_API_KEY", "bench-key".to_owned()),
        ("DAILY_API_URL", "http://127.0.0.1:9/v1".to_owned()),
        (
            "DAILY_WEBHOOK_SECRET",
            "MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA=".to_owned(),
        ),
        ("DEFAULT_VIDEO_PLATFORM", "mock".to_owned()),
    ];
    let server = Server::start(common, &env, &http).await?;
    // A JSON body just under the 1 MiB limit, so the old verifier's compact-JSON retry runs too.
    let filler = "x".repeat(1024 * 1024 - 64);
    let body = format!(r#"{{"type":"room.client.joined","data":{{"pad":"{filler}"}}}}"#);
    let now = chrono::Utc::now().timestamp();
    println!(
        "Oversized webhook signatures: {} with a {} KiB body, median of {count} requests",
        server.path.display(),
        body.len() / 1024
    );
    let long_entry = format!("v1={}", "ab".repeat(32));
    let mut cases: Vec<(String, String)> = options
        .entries
        .iter()
        .map(|&n| {
            (
                format!("{n} entries of 64 hex"),
                signature_header(now, &long_entry, n),
            )
        })
        .collect();
    if options.short_entries > 0 {
        cases.push((
            format!("{} entries v1=00", options.short_entries),
            signature_header(now, "v1=00", options.short_entries),
        ));
    }
    for (label, header) in &cases {
        let mut samples = Vec::new();
        for _ in 0..count {
            let started = Instant::now();
            let response = http
                .post(format!("{}/v1/whereby", server.base))
                .header("content-type", "application/json")
                .header("Whereby-Signature", header)
                .body(body.clone())
                .send()
                .await?;
            let status = response.status().as_u16();
            let _ = response.bytes().await;
            samples.push(started.elapsed());
            if status != 401 && status != 431 {
                bail!("{label}: expected 401, got {status}");
            }
            if status == 431 {
                println!("  {label}: header too large for the server (431)");
                break;
            }
        }
        samples.sort();
        println!(
            "  whereby, {label:>26} ({:>4} KiB header): {:>9.1} ms",
            header.len() / 1024,
            ms(percentile(&samples, 50.0))
        );
    }
    let mut samples = Vec::new();
    for _ in 0..count {
        let started = Instant::now();
        let response = http
            .post(format!("{}/v1/daily/webhook", server.base))
            .header("content-type", "application/json")
            .header("X-Webhook-Signature", "AAAA")
            .header("X-Webhook-Timestamp", now.to_string())
            .body(body.clone())
            .send()
            .await?;
        let status = response.status().as_u16();
        let _ = response.bytes().await;
        samples.push(started.elapsed());
        if status != 401 {
            bail!("daily: expected 401, got {status}");
        }
    }
    samples.sort();
    println!(
        "  daily, one bad signature:{:>33.1} ms",
        ms(percentile(&samples, 50.0))
    );
    Ok(())
}

fn signature_header(t: i64, entry: &str, n: usize) -> String {
    let mut header = format!("t={t}");
    for _ in 0..n {
        header.push(',');
        header.push_str(entry);
    }
    header
}
