//! The `report` benchmark (the default): every figure the project holds itself to, one line
//! each, in one run, with the server's throughput as a ratio to the ceiling measured in the same
//! run by the same load generator (see [`crate::ceiling`]). Its last line sums it up.
//!
//! One server (Daily faked in this process, as in `webhooks`): start-up, idle RSS; the ceiling
//! and then signed `participant.joined` ingest into one meeting at concurrency 64 (that load is
//! the burst whose catch-up is timed, with one event for another meeting sent right after it);
//! receipt-to-effect on an idle queue; the ceiling and then get-or-create on its reuse path at
//! concurrency 16; RSS after all that load.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use crate::ceiling::Ceiling;
use crate::meetings::reuse_load;
use crate::webhooks::{
    CATCH_UP_POLL, DailyServer, EFFECT_POLL, Events, SETTLE, effect, load, num_clients,
};
use crate::{Common, database_label, extra_env_label, ms, percentile};

#[derive(clap::Parser)]
pub struct Options {
    /// Concurrency of the webhook ingest load (and of its ceiling).
    #[arg(long, default_value_t = 64)]
    ingest_concurrency: usize,
    /// Concurrency of the get-or-create load (and of its ceiling).
    #[arg(long, default_value_t = 16)]
    meeting_concurrency: usize,
    /// Events sent one at a time on an idle queue, to time receipt → num_clients.
    #[arg(long, default_value_t = 50)]
    effect_samples: usize,
    /// Requests sent before each measured load (to it or its ceiling), not counted: they open
    /// the connections.
    #[arg(long, default_value_t = 300)]
    warm_up: usize,
    /// The longest wait after the burst for num_clients to catch up, in seconds.
    #[arg(long, default_value_t = 60)]
    catch_up_timeout_secs: u64,
}

/// Throughput, p50 and p99 of one load.
struct Figures {
    per_second: f64,
    p50: Duration,
    p99: Duration,
    errors: usize,
}

impl Figures {
    fn of(times: &[Duration], errors: usize, elapsed: Duration) -> Self {
        Self {
            per_second: times.len() as f64 / elapsed.as_secs_f64(),
            p50: percentile(times, 50.0),
            p99: percentile(times, 99.0),
            errors,
        }
    }

    fn line(&self) -> String {
        format!(
            "{:.0}/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
            self.per_second,
            ms(self.p50),
            ms(self.p99),
            self.errors
        )
    }

    fn ratio(&self, ceiling: &Figures) -> f64 {
        100.0 * self.per_second / ceiling.per_second
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

pub async fn run(common: &Common, options: &Options) -> anyhow::Result<()> {
    let requests = common.requests.unwrap_or(3000);
    let (c_ingest, c_meeting) = (
        options.ingest_concurrency.max(1),
        options.meeting_concurrency.max(1),
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let (server, daily) = DailyServer::start(common, &http).await?;
    let api_url = &daily.api_url;
    tokio::time::sleep(Duration::from_secs(common.idle_seconds)).await;
    let idle_rss = server.rss_kib()?;
    let base = &server.base;
    println!(
        "reflector-bench report: {} (pid {}), {}, Daily faked at {api_url}{}; {} CPUs, load average {} at the start",
        server.path.display(),
        server.pid,
        database_label(common),
        extra_env_label(common),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    println!("start-up to healthy: {:.0} ms", ms(server.ready));
    println!(
        "idle RSS after {} s: {:.1} MiB",
        common.idle_seconds,
        mib(idle_rss)
    );

    let room_name = format!("bench-report-{}", std::process::id());
    let (loaded, other) = daily.two_meetings(&http, base, &room_name).await?;
    let (meeting_url, events) = (loaded.url, loaded.events);
    let (other_url, other) = (other.url, other.events);
    let ceiling = Ceiling::start(&http).await?;
    // The same events (built, signed, announced to the fake's presence for a room no meeting
    // has), to the ceiling.
    let to_ceiling = Events {
        webhook_url: format!("{}/v1/daily/webhook", ceiling.base),
        daily_room: "bench-ceiling".into(),
        sent: Arc::new(AtomicUsize::new(0)),
        ..events.clone()
    };

    // Ingest: the ceiling, then the server, each after a warm-up.
    load(&to_ceiling, options.warm_up, c_ingest).await?;
    let (times, errors, elapsed) = load(&to_ceiling, requests, c_ingest).await?;
    let ingest_ceiling = Figures::of(&times, errors, elapsed);
    let body_bytes = to_ceiling.next()?.body.len();
    println!(
        "ceiling, POST of a {body_bytes}-byte webhook answered {{\"status\":\"ok\"}} by axum, concurrency {c_ingest}: {}",
        ingest_ceiling.line()
    );
    load(&events, options.warm_up, c_ingest).await?;
    wait_for(&http, &meeting_url, events.sent(), options).await?;
    let (times, errors, elapsed) = load(&events, requests, c_ingest).await?;
    let loaded = Instant::now();
    let ingest = Figures::of(&times, errors, elapsed);
    println!(
        "webhook ingest, signed Daily participant.joined, concurrency {c_ingest}: {} = {:.1} % of the ceiling",
        ingest.line(),
        ingest.ratio(&ingest_ceiling)
    );

    // The burst's catch-up, and another meeting's event sent right after it.
    let target = events.sent();
    let behind = target - num_clients(&http, &meeting_url).await?;
    let probe_sent = other.send(other.next()?).await;
    let (mut catch_up, mut other_applied) = (None, None);
    let timeout = Duration::from_secs(options.catch_up_timeout_secs);
    while (catch_up.is_none() || (probe_sent && other_applied.is_none()))
        && loaded.elapsed() < timeout
    {
        if catch_up.is_none() && num_clients(&http, &meeting_url).await? >= target {
            catch_up = Some(loaded.elapsed());
        }
        if probe_sent
            && other_applied.is_none()
            && num_clients(&http, &other_url).await? >= other.sent()
        {
            other_applied = Some(loaded.elapsed());
        }
        tokio::time::sleep(CATCH_UP_POLL).await;
    }
    let figure = |d: Option<Duration>| match d {
        Some(d) => format!("{:.0} ms", ms(d)),
        None => format!("not within {} s", timeout.as_secs()),
    };
    println!(
        "burst catch-up, {requests} events into one meeting: num_clients counted all {} after the last answer ({behind} behind then)",
        figure(catch_up)
    );
    println!(
        "another meeting's event, sent after the burst's last answer: applied {} after that answer{}",
        figure(other_applied),
        if probe_sent {
            ""
        } else {
            " (not answered 200)"
        }
    );

    // Receipt to effect, on an idle queue.
    tokio::time::sleep(SETTLE).await;
    let limit = Duration::from_secs(5);
    let mut effect_p99 = Duration::ZERO;
    for (label, events, url) in [
        ("the loaded meeting", &events, &meeting_url),
        ("another meeting", &other, &other_url),
    ] {
        let present = events.sent();
        let e = effect(&http, events, url, options.effect_samples, limit).await?;
        let p99 = percentile(&e.times, 99.0);
        effect_p99 = effect_p99.max(p99);
        println!(
            "receipt → num_clients, idle queue, {label} ({present} present): p50 {:.2} ms, p99 {:.2} ms ({} events one at a time, read every {} ms; {} errors, {} not seen within {} s)",
            ms(percentile(&e.times, 50.0)),
            ms(p99),
            options.effect_samples,
            EFFECT_POLL.as_millis(),
            e.failed,
            e.timeouts,
            limit.as_secs()
        );
    }

    // Get-or-create on its reuse path: the ceiling, then the server.
    let ceiling_url = format!("{}/v1/rooms/{room_name}/meeting", ceiling.base);
    reuse_load(&http, &ceiling_url, None, options.warm_up, c_meeting).await?;
    let (times, errors, elapsed) =
        reuse_load(&http, &ceiling_url, None, requests, c_meeting).await?;
    let meeting_ceiling = Figures::of(&times, errors, elapsed);
    println!(
        "ceiling, POST of {{}} answered {{\"status\":\"ok\"}} by axum, concurrency {c_meeting}: {}",
        meeting_ceiling.line()
    );
    drop(ceiling);
    let reuse_url = format!("{base}/v1/rooms/{room_name}/meeting");
    let meeting_id = meeting_url
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    reuse_load(
        &http,
        &reuse_url,
        Some(&meeting_id),
        options.warm_up,
        c_meeting,
    )
    .await?;
    let (times, errors, elapsed) =
        reuse_load(&http, &reuse_url, Some(&meeting_id), requests, c_meeting).await?;
    let reuse = Figures::of(&times, errors, elapsed);
    println!(
        "get-or-create, reuse path, concurrency {c_meeting}: {} = {:.1} % of the ceiling",
        reuse.line(),
        reuse.ratio(&meeting_ceiling)
    );

    let loaded_rss = server.rss_kib()?;
    println!("RSS after load: {:.1} MiB", mib(loaded_rss));
    println!(
        "summary: ingest {:.1} % of ceiling ({:.0} of {:.0}/s, p99 {:.1} ms), get-or-create {:.1} % of ceiling (p99 {:.1} ms), burst catch-up {}, other meeting {}, receipt → effect p99 {:.1} ms, start-up {:.0} ms, RSS idle {:.1} / after load {:.1} MiB, errors {}, load average {} at the end",
        ingest.ratio(&ingest_ceiling),
        ingest.per_second,
        ingest_ceiling.per_second,
        ms(ingest.p99),
        reuse.ratio(&meeting_ceiling),
        ms(reuse.p99),
        figure(catch_up),
        figure(other_applied),
        ms(effect_p99),
        ms(server.ready),
        mib(idle_rss),
        mib(loaded_rss),
        ingest.errors + reuse.errors,
        load_average()
    );
    Ok(())
}

/// Waits until the meeting counts `target` sessions (after the warm-up).
async fn wait_for(
    http: &reqwest::Client,
    url: &str,
    target: i64,
    options: &Options,
) -> anyhow::Result<()> {
    let started = Instant::now();
    while num_clients(http, url).await? < target {
        if started.elapsed() > Duration::from_secs(options.catch_up_timeout_secs) {
            anyhow::bail!("the warm-up's events were not applied in time");
        }
        tokio::time::sleep(CATCH_UP_POLL).await;
    }
    Ok(())
}
