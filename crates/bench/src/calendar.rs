//! The `calendar` benchmark: one ICS sync of a large feed (default 10 000 events, 500 of them
//! for the room within the next 24 hours, a tenth of them recurring series), served from this
//! process over loopback. Prints the wall time of `POST /v1/rooms/{name}/ics/sync` (the first
//! sync, which stores the room's events, then a second of a changed feed, which compares them)
//! and the server's memory: RSS before, and its peak (VmHWM) after.

use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{Duration, Utc};
use serde_json::{Value, json};
use tokio::sync::RwLock;

use crate::{Common, Server, database_label, extra_env_label, ms};

#[derive(clap::Args)]
pub struct Options {
    /// Events in the feed.
    #[arg(long, default_value_t = 10_000)]
    events: usize,
    /// Of those, events of the measured room within the window.
    #[arg(long, default_value_t = 500)]
    matching: usize,
}

pub async fn run(common: &Common, options: &Options) -> anyhow::Result<()> {
    if options.matching > options.events {
        bail!("--matching must not exceed --events");
    }
    let http = reqwest::Client::new();
    let server = Server::start(
        common,
        &[("ALLOW_PRIVATE_NETWORK_URLS", "true".to_owned())],
        &http,
    )
    .await?;
    let base = server.base.clone();
    let room = format!("bench-{}", std::process::id());
    let room_url = format!("http://localhost:1250/{room}");

    // One `now` for both feeds, so the second differs from the first only by its extra event.
    let now = Utc::now();
    let feed = Arc::new(RwLock::new(build_feed(options, &room_url, now, "")));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let feed_url = format!("http://{}/cal.ics", listener.local_addr()?);
    let served = feed.clone();
    let app = axum::Router::new().route(
        "/cal.ics",
        axum::routing::get(move || {
            let served = served.clone();
            async move { served.read().await.clone() }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let created = http
        .post(format!("{base}/v1/rooms"))
        .json(&json!({"name": room, "ics_url": feed_url, "ics_enabled": true}))
        .send()
        .await
        .context("creating the room")?;
    if !created.status().is_success() {
        bail!("creating the room failed: {}", created.text().await?);
    }
    let size = feed.read().await.len();
    let rss_before = server.rss_kib()?;
    let peak_before = server.hwm_kib()?;

    let sync = || async {
        let started = Instant::now();
        let result: Value = http
            .post(format!("{base}/v1/rooms/{room}/ics/sync"))
            .send()
            .await?
            .json()
            .await?;
        anyhow::Ok((started.elapsed(), result))
    };
    let (first, first_result) = sync().await?;
    // Changed bytes (one extra event elsewhere), so the whole feed is read and compared again.
    *feed.write().await = build_feed(options, &room_url, now, "changed");
    let (second, second_result) = sync().await?;
    let peak_after = server.hwm_kib()?;

    println!(
        "reflector-bench calendar: {} (pid {}), {}{}",
        server.path.display(),
        server.pid,
        database_label(common),
        extra_env_label(common)
    );
    println!(
        "feed: {} events, {:.1} MiB, {} for the room within 24 h",
        options.events,
        size as f64 / (1024.0 * 1024.0),
        options.matching
    );
    let line = |label: &str, d: std::time::Duration, r: &Value| {
        println!(
            "{label}: {:.0} ms ({} found, {} created, {} updated, {} deleted, of {} events; {})",
            ms(d),
            r["events_found"],
            r["events_created"],
            r["events_updated"],
            r["events_deleted"],
            r["total_events"],
            r["status"]
        );
    };
    line("first sync (stores the events)", first, &first_result);
    line("second sync (changed feed)", second, &second_result);
    println!(
        "server RSS before: {:.1} MiB; peak RSS (VmHWM) before: {:.1} MiB, after: {:.1} MiB",
        rss_before as f64 / 1024.0,
        peak_before as f64 / 1024.0,
        peak_after as f64 / 1024.0
    );
    Ok(())
}

/// A Google-export-like feed: long descriptions, attendees, folded lines; `matching` events of
/// the room within the next hours (every tenth a weekly series), the rest for other rooms.
fn build_feed(
    options: &Options,
    room_url: &str,
    now: chrono::DateTime<Utc>,
    variant: &str,
) -> String {
    let mut out = String::with_capacity(options.events * 900);
    out.push_str(
        "BEGIN:VCALENDAR\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\nVERSION:2.0\r\n",
    );
    let stamp = |t: chrono::DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    for i in 0..options.events {
        let mine = i < options.matching;
        let start = if mine {
            // Spread over the next 23 hours, on the minute.
            now + Duration::minutes(5 + (i as i64 * 23 * 60 / options.matching.max(1) as i64))
        } else {
            now + Duration::days((i % 60) as i64 - 30) + Duration::minutes((i % 1440) as i64)
        };
        let series = i % 10 == 0;
        let (start, rrule) = if series {
            // Weekly since some weeks ago: one occurrence in the window.
            (
                start - Duration::weeks(4 + (i % 8) as i64),
                "RRULE:FREQ=WEEKLY\r\n",
            )
        } else {
            (start, "")
        };
        let location = if mine {
            room_url.to_owned()
        } else {
            format!("{room_url}-other-{}", i % 50)
        };
        let _ = write!(
            out,
            "BEGIN:VEVENT\r\nDTSTART:{}\r\nDTEND:{}\r\n{rrule}DTSTAMP:{}\r\nUID:event-{i}@bench\r\n\
             ORGANIZER;CN=Organiser {i}:mailto:organiser{i}@example.com\r\n\
             ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;CN=Ana Mü\r\n ller;X-NUM-GUESTS=0:mailto:ana@example.com\r\n\
             ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=OPT-PARTICIPANT;PARTSTAT=NEEDS-ACTION;CN=Bo\r\n b;X-NUM-GUESTS=0:mailto:bob@example.com\r\n\
             DESCRIPTION:Weekly sync number {i}. Join at {location}\\n\\nAgenda:\\n- u\r\n pdates\\n- decisions\\n- next steps for the team and everyone else\r\n\
             LOCATION:{location}\r\nSEQUENCE:0\r\nSTATUS:CONFIRMED\r\nSUMMARY:Meeting {i} ☕\r\nTRANSP:OPAQUE\r\nEND:VEVENT\r\n",
            stamp(start),
            stamp(start + Duration::minutes(30)),
            stamp(start),
        );
    }
    if !variant.is_empty() {
        let _ = write!(
            out,
            "BEGIN:VEVENT\r\nDTSTART:{}\r\nUID:{variant}@bench\r\nLOCATION:elsewhere\r\nEND:VEVENT\r\n",
            stamp(now)
        );
    }
    out.push_str("END:VCALENDAR\r\n");
    out
}
