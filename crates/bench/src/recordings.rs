//! `recordings`: ingesting one large recording (1 GiB by default) from an S3-compatible server
//! (moto, started here on loopback) into the server's local storage. A signed Daily
//! `recording.ready-to-download` names a raw-tracks audio track in the "customer bucket"; the
//! figures are the ingest throughput (from the webhook to the recording being `stored`: download,
//! size check, ffprobe, and the copy into storage) and the server's peak resident memory
//! (VmHWM), which must not grow with the file.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use crate::fake_daily::FakeDaily;
use crate::{Common, Server};

#[derive(clap::Args)]
pub struct Options {
    /// Size of the recording in MiB.
    #[arg(long, default_value_t = 1024)]
    size_mib: u64,
}

struct Moto(std::process::Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A WAV header for `data_len` bytes of 16 kHz mono 16-bit silence.
fn wav_header(data_len: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&data_len.saturating_add(36).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&16_000u32.to_le_bytes());
    h.extend_from_slice(&32_000u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}

fn vm_hwm_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmHWM in /proc status")
}

pub async fn run(common: &Common, options: &Options) -> anyhow::Result<()> {
    let size = options.size_mib * 1024 * 1024;
    let http = reqwest::Client::new();
    let moto_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let moto_bin = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
    let _moto = Moto(
        std::process::Command::new(&moto_bin)
            .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {moto_bin}: pip install 'moto[server]'"))?,
    );
    let moto = format!("http://127.0.0.1:{moto_port}");
    let started = Instant::now();
    while http.get(format!("{moto}/moto-api/")).send().await.is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("moto_server did not start");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let bucket = "bench-daily";
    http.put(format!("{moto}/{bucket}"))
        .send()
        .await?
        .error_for_status()?;
    let room = format!("bench-rec-{}", std::process::id());
    let key = format!("acme/{room}/1767250800000-bench-cam-audio-1.wav");
    // The object: a WAV header and silence, streamed up in 1 MiB chunks.
    let header = wav_header(u32::try_from(size - 44).unwrap_or(u32::MAX));
    let chunk = vec![0u8; 1024 * 1024];
    let chunks = (size / chunk.len() as u64) as usize;
    let body = futures_util_stream(header, chunk, chunks);
    let upload = Instant::now();
    http.put(format!("{moto}/{bucket}/{key}"))
        .header("content-length", size.to_string())
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await?
        .error_for_status()
        .context("uploading the recording to moto")?;
    println!(
        "uploaded a {} MiB recording to moto in {:.1} s",
        options.size_mib,
        upload.elapsed().as_secs_f64()
    );

    let fake = FakeDaily::default();
    let api_url = fake.serve().await?;
    let secret: Vec<u8> = uuid::Uuid::new_v4().as_bytes().to_vec();
    let env = [
        ("DAILY_API_KEY", "bench".to_owned()),
        ("DAILY_API_URL", api_url),
        ("DAILY_WEBHOOK_SECRET", BASE64.encode(&secret)),
        ("DEFAULT_VIDEO_PLATFORM", "daily".to_owned()),
        ("DAILYCO_STORAGE_AWS_BUCKET_NAME", bucket.to_owned()),
        ("DAILYCO_STORAGE_AWS_REGION", "us-east-1".to_owned()),
        (
            "DAILYCO_STORAGE_AWS_ROLE_ARN",
            "arn:aws:iam::1:role/bench".to_owned(),
        ),
        ("TRANSCRIPT_STORAGE_AWS_ENDPOINT_URL", moto.clone()),
        ("TRANSCRIPT_STORAGE_AWS_ACCESS_KEY_ID", "bench".to_owned()),
        (
            "TRANSCRIPT_STORAGE_AWS_SECRET_ACCESS_KEY",
            "bench".to_owned(),
        ),
    ];
    let server = Server::start(common, &env, &http).await?;
    let base = &server.base;
    http.post(format!("{base}/v1/rooms"))
        .json(&json!({"name": "bench"}))
        .send()
        .await?
        .error_for_status()?;
    let meeting: Value = http
        .post(format!("{base}/v1/rooms/bench/meeting"))
        .json(&json!({}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let daily_room = meeting["room_name"].as_str().context("no room name")?;
    let meeting_id = meeting["id"].as_str().context("no meeting id")?;
    let rss_before = server.rss_kib()?;
    let event = json!({
        "version": "1.0.0", "type": "recording.ready-to-download", "id": "bench-rec",
        "payload": {"type": "raw-tracks", "recording_id": "bench-rec-1", "room_name": daily_room,
                    "start_ts": chrono::Utc::now().timestamp(),
                    "tracks": [{"type": "audio", "s3Key": key, "size": size}]}
    })
    .to_string();
    let ts = chrono::Utc::now().timestamp().to_string();
    let signature = crate::webhooks::sign(&secret, &ts, event.as_bytes())?;
    let ingest = Instant::now();
    http.post(format!("{base}/v1/daily/webhook"))
        .header("x-webhook-timestamp", &ts)
        .header("x-webhook-signature", signature)
        .body(event)
        .send()
        .await?
        .error_for_status()?;
    let recording = loop {
        let list: Value = http
            .get(format!("{base}/v1/meetings/{meeting_id}/recordings"))
            .send()
            .await?
            .json()
            .await?;
        let status = list[0]["status"].as_str().unwrap_or("");
        if status == "stored" || status == "error" {
            break list[0].clone();
        }
        if ingest.elapsed() > Duration::from_secs(1800) {
            bail!("the recording was not ingested within 30 minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let took = ingest.elapsed();
    let peak = vm_hwm_kib(server.pid)?;
    if recording["status"] != "stored" {
        bail!("ingestion failed: {}", recording["error"]);
    }
    println!(
        "ingested {} MiB from S3 (moto) into local storage in {:.1} s: {:.1} MB/s (download, size check, ffprobe, copy into storage)",
        options.size_mib,
        took.as_secs_f64(),
        size as f64 / 1e6 / took.as_secs_f64()
    );
    println!(
        "server memory: {:.1} MiB resident before, peak (VmHWM) {:.1} MiB over the whole run",
        rss_before as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    println!(
        "server: {}; database: {}",
        server.path.display(),
        crate::database_label(common)
    );
    Ok(())
}

fn futures_util_stream(
    header: Vec<u8>,
    chunk: Vec<u8>,
    chunks: usize,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    // The header replaces the first chunk's first bytes, so the total stays `chunks` MiB.
    let first = {
        let mut c = chunk.clone();
        c[..header.len()].copy_from_slice(&header);
        c
    };
    futures::stream::iter(
        (0..chunks).map(move |i| Ok(if i == 0 { first.clone() } else { chunk.clone() })),
    )
}
