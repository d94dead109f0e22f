//! The `report` benchmark (the default): every figure the project holds itself to, one line
//! each, in one run, with the server's throughput as a ratio to the ceiling measured in the same
//! run by the same load generator (see [`crate::ceiling`]). Its last line sums it up.
//!
//! One server (Daily faked in this process, as in `webhooks`): start-up, idle RSS; rounds of the
//! ceiling and then signed `participant.joined` ingest into one meeting at concurrency 64 (each
//! server load is a burst whose catch-up is timed, with one event for another meeting sent right
//! after it); receipt-to-effect on an idle queue; rounds of the ceiling and then get-or-create on
//! its reuse path at concurrency 16; RSS after all that load; then the server's restart on the
//! same database (start-up proper is on a fresh one, so it includes creating the schema).
//!
//! Rounds: this machine's speed changes from one second to the next (the ceiling moved by up to
//! 2× between consecutive runs), so one load of each would compare the server and the ceiling
//! at different speeds. Alternating several, and summing each side's up, compares them over the
//! same stretch of time.

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
    /// Rounds of each comparison: a load of the ceiling, then one of the server, this many
    /// times (`--requests` each); each side's figures are over all its rounds.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

/// The loads of one side of a comparison, over its rounds.
#[derive(Default)]
struct Loads {
    times: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
}

impl Loads {
    fn add(&mut self, (times, errors, elapsed): (Vec<Duration>, usize, Duration)) {
        self.times.extend(times);
        self.errors += errors;
        self.elapsed += elapsed;
    }

    fn figures(mut self) -> Figures {
        self.times.sort();
        Figures::of(&self.times, self.errors, self.elapsed)
    }
}

/// What followed one burst: sessions not counted yet at its last answer, the time until all
/// were, and until another meeting's event was applied (`None`: not within the timeout, or that
/// event was not answered 200).
struct AfterBurst {
    behind: i64,
    catch_up: Option<Duration>,
    other_applied: Option<Duration>,
    other_sent: bool,
}

impl AfterBurst {
    /// The worse of two, figure by figure (a missing figure is the worst).
    fn worst(self, other: Self) -> Self {
        let worse = |a: Option<Duration>, b: Option<Duration>| a.zip(b).map(|(a, b)| a.max(b));
        Self {
            behind: self.behind.max(other.behind),
            catch_up: worse(self.catch_up, other.catch_up),
            other_applied: worse(self.other_applied, other.other_applied),
            other_sent: self.other_sent && other.other_sent,
        }
    }
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
    let (mut server, daily) = DailyServer::start(common, &http).await?;
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

    // Ingest: rounds of the ceiling, then the server, the first of each after a warm-up.
    let rounds = options.rounds.max(1);
    let timeout = Duration::from_secs(options.catch_up_timeout_secs);
    let (mut ceiling_loads, mut server_loads) = (Loads::default(), Loads::default());
    let mut bursts = Vec::with_capacity(rounds);
    for round in 0..rounds {
        if round == 0 {
            load(&to_ceiling, options.warm_up, c_ingest).await?;
        }
        ceiling_loads.add(load(&to_ceiling, requests, c_ingest).await?);
        if round == 0 {
            load(&events, options.warm_up, c_ingest).await?;
            wait_for(&http, &meeting_url, events.sent(), options).await?;
        }
        server_loads.add(load(&events, requests, c_ingest).await?);
        // Also lets the burst's work finish before the ceiling's next round.
        bursts.push(
            after_burst(
                &http,
                (&meeting_url, &events),
                (&other_url, &other),
                timeout,
            )
            .await?,
        );
    }
    let AfterBurst {
        behind,
        catch_up,
        other_applied,
        other_sent,
    } = bursts
        .into_iter()
        .reduce(AfterBurst::worst)
        .expect("at least one round");
    let ingest_ceiling = ceiling_loads.figures();
    let ingest = server_loads.figures();
    let body_bytes = to_ceiling.next()?.body.len();
    let of_rounds = format!("{rounds} rounds of {requests}, alternating");
    println!(
        "ceiling, POST of a {body_bytes}-byte webhook answered {{\"status\":\"ok\"}} by axum, concurrency {c_ingest} ({of_rounds}): {}",
        ingest_ceiling.line()
    );
    println!(
        "webhook ingest, signed Daily participant.joined, concurrency {c_ingest} ({of_rounds}): {} = {:.1} % of the ceiling",
        ingest.line(),
        ingest.ratio(&ingest_ceiling)
    );
    let figure = |d: Option<Duration>| match d {
        Some(d) => format!("{:.0} ms", ms(d)),
        None => format!("not within {} s", timeout.as_secs()),
    };
    println!(
        "burst catch-up, {requests} events into one meeting: num_clients counted all {} after the last answer (the worst of {rounds} bursts; {behind} behind then)",
        figure(catch_up)
    );
    println!(
        "another meeting's event, sent after the burst's last answer: applied {} after that answer (the worst of {rounds}){}",
        figure(other_applied),
        if other_sent {
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

    // Get-or-create on its reuse path: rounds of the ceiling, then the server.
    let ceiling_url = format!("{}/v1/rooms/{room_name}/meeting", ceiling.base);
    let reuse_url = format!("{base}/v1/rooms/{room_name}/meeting");
    let meeting_id = meeting_url
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let (mut ceiling_loads, mut server_loads) = (Loads::default(), Loads::default());
    for round in 0..rounds {
        if round == 0 {
            reuse_load(&http, &ceiling_url, None, options.warm_up, c_meeting).await?;
        }
        ceiling_loads.add(reuse_load(&http, &ceiling_url, None, requests, c_meeting).await?);
        let server = Some(meeting_id.as_str());
        if round == 0 {
            reuse_load(&http, &reuse_url, server, options.warm_up, c_meeting).await?;
        }
        server_loads.add(reuse_load(&http, &reuse_url, server, requests, c_meeting).await?);
    }
    drop(ceiling);
    let meeting_ceiling = ceiling_loads.figures();
    let reuse = server_loads.figures();
    println!(
        "ceiling, POST of {{}} answered {{\"status\":\"ok\"}} by axum, concurrency {c_meeting} ({of_rounds}): {}",
        meeting_ceiling.line()
    );
    println!(
        "get-or-create, reuse path, concurrency {c_meeting} ({of_rounds}): {} = {:.1} % of the ceiling",
        reuse.line(),
        reuse.ratio(&meeting_ceiling)
    );

    let loaded_rss = server.rss_kib()?;
    println!("RSS after load: {:.1} MiB", mib(loaded_rss));
    let restart = server.restart(&http).await?;
    println!(
        "restart to healthy, on the same data folder and database (schema created, the run's rows in it): {:.0} ms",
        ms(restart)
    );
    println!(
        "summary: ingest {:.1} % of ceiling ({:.0} of {:.0}/s, p99 {:.1} ms), get-or-create {:.1} % of ceiling (p99 {:.1} ms), burst catch-up {}, other meeting {}, receipt → effect p99 {:.1} ms, start-up {:.0} ms (restart {:.0} ms), RSS idle {:.1} / after load {:.1} MiB, errors {}, load average {} at the end",
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
        ms(restart),
        mib(idle_rss),
        mib(loaded_rss),
        ingest.errors + reuse.errors,
        load_average()
    );
    Ok(())
}

/// After a burst into `loaded`'s meeting: one event sent to `other`'s, then both read until
/// each counts every session sent (or `timeout` after the burst's last answer).
async fn after_burst(
    http: &reqwest::Client,
    (loaded_url, loaded): (&str, &Events),
    (other_url, other): (&str, &Events),
    timeout: Duration,
) -> anyhow::Result<AfterBurst> {
    let answered = Instant::now();
    let target = loaded.sent();
    let behind = target - num_clients(http, loaded_url).await?;
    let other_sent = other.send(other.next()?).await;
    let (mut catch_up, mut other_applied) = (None, None);
    while (catch_up.is_none() || (other_sent && other_applied.is_none()))
        && answered.elapsed() < timeout
    {
        if catch_up.is_none() && num_clients(http, loaded_url).await? >= target {
            catch_up = Some(answered.elapsed());
        }
        if other_sent
            && other_applied.is_none()
            && num_clients(http, other_url).await? >= other.sent()
        {
            other_applied = Some(answered.elapsed());
        }
        tokio::time::sleep(CATCH_UP_POLL).await;
    }
    Ok(AfterBurst {
        behind,
        catch_up,
        other_applied,
        other_sent,
    })
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
