//! The `webhooks` benchmark. A fake Daily API runs in this process; the server is started with
//! Daily as its default platform, pointed at the fake, and given a webhook secret. Two rooms with
//! a meeting each are created (the loaded one and another), then:
//!
//! 1. for each concurrency level, N signed `participant.joined` events (each a new session) go to
//!    `POST /v1/daily/webhook`: answer latency, throughput and errors; then how far `num_clients`
//!    lagged behind when the last answer came, and how long until it counted every session;
//! 2. single events, one at a time: from sending each until `GET` of the meeting shows it in
//!    `num_clients`, for the loaded meeting and for a second one with few participants.
//!
//! Each participant is announced to the fake's presence endpoint before its event is sent, so the
//! presence check that participant events ask for (5 s later, one per burst) agrees with the
//! webhooks. That check may also be what applies an event first: it is the server's real
//! behaviour, so it counts. It also means `num_clients` can be complete while events still wait
//! in the job queue. So right after each load, one event for a second, idle meeting is sent too.
//! The time until that meeting shows it is what another meeting's participants wait behind the
//! burst. The next step waits for it too.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::fake_daily::{FakeDaily, Present};
use crate::{Common, Server, database_label, extra_env_label, ms, percentile};

#[derive(clap::Args)]
pub struct Options {
    /// Events sent one at a time, after the load, to time receipt → num_clients.
    #[arg(long, default_value_t = 50)]
    effect_samples: usize,
    /// The longest wait for one of those events to show in num_clients, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    effect_timeout_ms: u64,
    /// The longest wait, after each load, for num_clients to catch up and for the other
    /// meeting's event to be applied, in seconds.
    #[arg(long, default_value_t = 60)]
    catch_up_timeout_secs: u64,
}

/// How often `num_clients` is read while waiting for an event's effect.
pub(crate) const EFFECT_POLL: Duration = Duration::from_millis(2);
/// How often it is read while waiting for the jobs to catch up after a load.
pub(crate) const CATCH_UP_POLL: Duration = Duration::from_millis(5);
/// A pause before the single events, for the load's last few jobs (and the reconciliation they
/// trigger) to finish, so the first event does not wait behind them.
pub(crate) const SETTLE: Duration = Duration::from_secs(2);

/// Signs and sends `participant.joined` events for one Daily room, announcing each participant
/// to the fake's presence first.
#[derive(Clone)]
pub(crate) struct Events {
    pub(crate) http: reqwest::Client,
    pub(crate) webhook_url: String,
    /// Base64-decoded, as Daily keys the HMAC.
    pub(crate) secret: Arc<Vec<u8>>,
    pub(crate) fake: FakeDaily,
    pub(crate) daily_room: String,
    /// Participants announced (and events built) so far.
    pub(crate) sent: Arc<AtomicUsize>,
}

/// A signed event, ready to send.
pub(crate) struct Signed {
    pub(crate) body: Vec<u8>,
    timestamp: String,
    signature: String,
}

impl Events {
    /// A new participant: announced to presence, and their event built and signed.
    pub(crate) fn next(&self) -> anyhow::Result<Signed> {
        let n = self.sent.fetch_add(1, Ordering::SeqCst) + 1;
        let now = Utc::now();
        let participant = Present {
            session_id: uuid::Uuid::new_v4().to_string(),
            user_id: format!("bench-user-{n}"),
            user_name: format!("Bench {n}"),
            joined_at: now,
        };
        let unix = now.timestamp_micros() as f64 / 1e6;
        let body = serde_json::to_vec(&json!({
            "version": "1.0.0",
            "type": "participant.joined",
            "id": uuid::Uuid::new_v4().to_string(),
            "payload": {
                "room": self.daily_room,
                "session_id": participant.session_id,
                "user_id": participant.user_id,
                "user_name": participant.user_name,
                "joined_at": unix,
            },
            "event_ts": unix,
        }))?;
        self.fake.join(&self.daily_room, participant);
        let timestamp = now.timestamp().to_string();
        let signature = sign(&self.secret, &timestamp, &body)?;
        Ok(Signed {
            body,
            timestamp,
            signature,
        })
    }

    /// Sends one event; whether it was answered 200.
    pub(crate) async fn send(&self, event: Signed) -> bool {
        let answer = self
            .http
            .post(&self.webhook_url)
            .header("content-type", "application/json")
            .header("X-Webhook-Timestamp", event.timestamp)
            .header("X-Webhook-Signature", event.signature)
            .body(event.body)
            .send()
            .await;
        match answer {
            // Read the whole answer, so the time covers it.
            Ok(r) if r.status() == reqwest::StatusCode::OK => r.bytes().await.is_ok(),
            _ => false,
        }
    }

    pub(crate) fn sent(&self) -> i64 {
        i64::try_from(self.sent.load(Ordering::SeqCst)).unwrap_or(i64::MAX)
    }
}

/// Daily's scheme (SPEC §3.3): standard base64 of HMAC-SHA256, keyed with the decoded secret,
/// over `"{timestamp}." + body`.
pub(crate) fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> anyhow::Result<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).context("HMAC key")?;
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(BASE64.encode(mac.finalize().into_bytes()))
}

/// The meeting's `num_clients` as the API shows it.
pub(crate) async fn num_clients(http: &reqwest::Client, meeting_url: &str) -> anyhow::Result<i64> {
    let answer = http
        .get(meeting_url)
        .send()
        .await
        .context("reading the meeting")?;
    if !answer.status().is_success() {
        bail!(
            "reading the meeting: {} {}",
            answer.status(),
            answer.text().await.unwrap_or_default()
        );
    }
    let meeting: serde_json::Value = answer.json().await.context("reading the meeting")?;
    meeting["num_clients"]
        .as_i64()
        .context("the meeting has no num_clients")
}

/// One concurrency level: `requests` events from `concurrency` senders. Returns the sorted
/// answer times, the errors and the wall time.
pub(crate) async fn load(
    events: &Events,
    requests: usize,
    concurrency: usize,
) -> anyhow::Result<(Vec<Duration>, usize, Duration)> {
    let wall = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|i| {
            let count = requests / concurrency + usize::from(i < requests % concurrency);
            let events = events.clone();
            tokio::spawn(async move {
                let mut times = Vec::with_capacity(count);
                let mut errors = 0usize;
                for _ in 0..count {
                    let event = events.next()?;
                    let t = Instant::now();
                    let ok = events.send(event).await;
                    times.push(t.elapsed());
                    errors += usize::from(!ok);
                }
                anyhow::Ok((times, errors))
            })
        })
        .collect();
    let mut times = Vec::with_capacity(requests);
    let mut errors = 0;
    for task in tasks {
        let (t, e) = task.await??;
        times.extend(t);
        errors += e;
    }
    let elapsed = wall.elapsed();
    times.sort();
    Ok((times, errors, elapsed))
}

/// Receipt-to-effect samples: sorted times, events not answered 200, and effects not seen in time.
pub(crate) struct Effect {
    pub(crate) times: Vec<Duration>,
    pub(crate) failed: usize,
    pub(crate) timeouts: usize,
}

/// Sends `samples` events one at a time, each timed from sending until the meeting at `url`
/// counts it in `num_clients`.
pub(crate) async fn effect(
    http: &reqwest::Client,
    events: &Events,
    url: &str,
    samples: usize,
    timeout: Duration,
) -> anyhow::Result<Effect> {
    let mut effect = Effect {
        times: Vec::with_capacity(samples),
        failed: 0,
        timeouts: 0,
    };
    for _ in 0..samples {
        let event = events.next()?;
        let target = events.sent();
        let sent = Instant::now();
        if !events.send(event).await {
            effect.failed += 1;
            continue;
        }
        loop {
            if num_clients(http, url).await? >= target {
                effect.times.push(sent.elapsed());
                break;
            }
            if sent.elapsed() > timeout {
                effect.timeouts += 1;
                break;
            }
            tokio::time::sleep(EFFECT_POLL).await;
        }
    }
    effect.times.sort();
    Ok(effect)
}

/// Creates a room named `name` and its meeting (on Daily); returns the meeting's URL in our API
/// and its Daily room name.
pub(crate) async fn create_meeting(
    http: &reqwest::Client,
    base: &str,
    name: &str,
) -> anyhow::Result<(String, String)> {
    let room = http
        .post(format!("{base}/v1/rooms"))
        .json(&json!({"name": name}))
        .send()
        .await
        .context("creating a room")?;
    if !room.status().is_success() {
        bail!("creating the room {name} failed: {}", room.text().await?);
    }
    let meeting = http
        .post(format!("{base}/v1/rooms/{name}/meeting"))
        .json(&json!({}))
        .send()
        .await
        .context("creating a meeting")?;
    if !meeting.status().is_success() {
        bail!(
            "creating a meeting in {name} failed: {}",
            meeting.text().await?
        );
    }
    let meeting: serde_json::Value = meeting.json().await.context("reading a meeting")?;
    if meeting["platform"] != "daily" {
        bail!(
            "the meeting is on {} rather than daily",
            meeting["platform"]
        );
    }
    let id = meeting["id"].as_str().context("no meeting id")?;
    let daily_room = meeting["room_name"]
        .as_str()
        .context("no Daily room name")?;
    Ok((
        format!("{base}/v1/rooms/{name}/meetings/{id}"),
        daily_room.to_owned(),
    ))
}

/// The fake Daily a measured server is started with (its default provider, with a webhook
/// secret), and what signs events for it.
pub(crate) struct DailyServer {
    pub(crate) fake: FakeDaily,
    pub(crate) api_url: String,
    secret: Arc<Vec<u8>>,
}

/// A meeting made through the API, and the events for its Daily room.
pub(crate) struct BenchMeeting {
    /// `GET` it for `num_clients`.
    pub(crate) url: String,
    pub(crate) events: Events,
}

impl DailyServer {
    /// Serves a fake Daily and starts the server against it.
    pub(crate) async fn start(
        common: &Common,
        http: &reqwest::Client,
    ) -> anyhow::Result<(Server, Self)> {
        let fake = FakeDaily::default();
        let api_url = fake.serve().await?;
        let secret: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
            .iter()
            .flat_map(|u| *u.as_bytes())
            .collect();
        let env = [
            ("DAILY_API_KEY", "bench".to_owned()),
            ("DAILY_API_URL", api_url.clone()),
            ("DAILY_WEBHOOK_SECRET", BASE64.encode(&secret)),
            ("DEFAULT_VIDEO_PLATFORM", "daily".to_owned()),
        ];
        let server = Server::start(common, &env, http).await?;
        let daily = Self {
            fake,
            api_url,
            secret: Arc::new(secret),
        };
        Ok((server, daily))
    }

    /// Two meetings, `{room_name}` (the one loaded) and `{room_name}-other`.
    pub(crate) async fn two_meetings(
        &self,
        http: &reqwest::Client,
        base: &str,
        room_name: &str,
    ) -> anyhow::Result<(BenchMeeting, BenchMeeting)> {
        let loaded = self.meeting(http, base, room_name).await?;
        let other = self
            .meeting(http, base, &format!("{room_name}-other"))
            .await?;
        Ok((loaded, other))
    }

    async fn meeting(
        &self,
        http: &reqwest::Client,
        base: &str,
        room_name: &str,
    ) -> anyhow::Result<BenchMeeting> {
        let (url, daily_room) = create_meeting(http, base, room_name).await?;
        let events = Events {
            http: http.clone(),
            webhook_url: format!("{base}/v1/daily/webhook"),
            secret: self.secret.clone(),
            fake: self.fake.clone(),
            daily_room,
            sent: Arc::new(AtomicUsize::new(0)),
        };
        Ok(BenchMeeting { url, events })
    }
}

pub async fn run(common: &Common, options: &Options) -> anyhow::Result<()> {
    let requests = common.requests.unwrap_or(1000);
    let levels = common
        .concurrency
        .clone()
        .unwrap_or_else(|| vec![1, 16, 64]);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;

    let (server, daily) = DailyServer::start(common, &http).await?;
    let base = &server.base;
    let api_url = &daily.api_url;
    let (loaded, other) = daily
        .two_meetings(&http, base, &format!("bench-wh-{}", std::process::id()))
        .await?;
    let (meeting_url, events) = (loaded.url, loaded.events);
    let (other_url, other) = (other.url, other.events);

    println!(
        "reflector-bench webhooks: {} (pid {}), {}, Daily faked at {api_url}{}",
        server.path.display(),
        server.pid,
        database_label(common),
        extra_env_label(common)
    );
    println!("start-up to healthy: {:.0} ms", ms(server.ready));
    println!();
    println!(
        "POST /v1/daily/webhook, signed participant.joined, one meeting ({requests} requests per row)"
    );
    println!(
        "{:>11} {:>9} {:>9} {:>9} {:>9} {:>7} {:>8} {:>12} {:>13}",
        "concurrency",
        "p50 ms",
        "p99 ms",
        "max ms",
        "req/s",
        "errors",
        "behind",
        "catch-up ms",
        "other mtg ms"
    );
    let catch_up_timeout = Duration::from_secs(options.catch_up_timeout_secs);
    let mut caught_up = true;
    for &concurrency in &levels {
        let concurrency = concurrency.max(1);
        let (times, errors, elapsed) = load(&events, requests, concurrency).await?;
        let loaded = Instant::now();
        let target = events.sent();
        let behind = target - num_clients(&http, &meeting_url).await?;
        let probe_sent = other.send(other.next()?).await;
        let (mut catch_up, mut other_applied) = (None, None);
        while catch_up.is_none() || (probe_sent && other_applied.is_none()) {
            if catch_up.is_none() && num_clients(&http, &meeting_url).await? >= target {
                catch_up = Some(loaded.elapsed());
            }
            if probe_sent
                && other_applied.is_none()
                && num_clients(&http, &other_url).await? >= other.sent()
            {
                other_applied = Some(loaded.elapsed());
            }
            if loaded.elapsed() > catch_up_timeout {
                break;
            }
            tokio::time::sleep(CATCH_UP_POLL).await;
        }
        caught_up = catch_up.is_some() && other_applied.is_some();
        let figure = |d: Option<Duration>| match d {
            Some(d) => format!("{:.0}", ms(d)),
            None if !probe_sent => "error".to_owned(),
            None => format!(">{}", catch_up_timeout.as_millis()),
        };
        println!(
            "{:>11} {:>9.2} {:>9.2} {:>9.2} {:>9.0} {:>7} {:>8} {:>12} {:>13}",
            concurrency,
            ms(percentile(&times, 50.0)),
            ms(percentile(&times, 99.0)),
            ms(times.last().copied().unwrap_or_default()),
            times.len() as f64 / elapsed.as_secs_f64(),
            errors,
            behind,
            figure(catch_up),
            figure(other_applied),
        );
    }
    println!(
        "  behind: sessions sent but not yet in num_clients when the last answer came\n  \
         catch-up: from then until num_clients counted every session sent (by its event's job, or \
         by a presence reconciliation)\n  \
         other mtg: from then until one event for another meeting, sent then, was applied"
    );

    println!();
    let samples = options.effect_samples;
    let timeout = Duration::from_millis(options.effect_timeout_ms);
    if !caught_up {
        println!("receipt → num_clients: skipped, the jobs did not catch up after the load");
    } else if samples > 0 {
        tokio::time::sleep(SETTLE).await;
        println!(
            "receipt → num_clients + 1, one event at a time ({samples} events per row, read every \
             {} ms, {} ms limit; after {} s without load)",
            EFFECT_POLL.as_millis(),
            timeout.as_millis(),
            SETTLE.as_secs()
        );
        println!(
            "{:<30} {:>9} {:>9} {:>9} {:>7} {:>9}",
            "meeting", "p50 ms", "p99 ms", "max ms", "errors", "timeouts"
        );
        for (label, events, url) in [
            (
                format!("the loaded one ({} present)", events.sent()),
                &events,
                &meeting_url,
            ),
            (
                format!("the other one ({} present)", other.sent()),
                &other,
                &other_url,
            ),
        ] {
            let effect = effect(&http, events, url, samples, timeout).await?;
            println!(
                "{:<30} {:>9.2} {:>9.2} {:>9.2} {:>7} {:>9}",
                label,
                ms(percentile(&effect.times, 50.0)),
                ms(percentile(&effect.times, 99.0)),
                ms(effect.times.last().copied().unwrap_or_default()),
                effect.failed,
                effect.timeouts
            );
        }
    }

    println!();
    println!(
        "loaded meeting: {} sessions sent, num_clients {}",
        events.sent(),
        num_clients(&http, &meeting_url).await?
    );
    let calls: Vec<String> = daily
        .fake
        .calls()
        .into_iter()
        .map(|(call, n)| format!("{call} ×{n}"))
        .collect();
    println!("calls to the fake Daily API: {}", calls.join(", "));
    println!(
        "RSS after load: {:.1} MiB",
        server.rss_kib()? as f64 / 1024.0
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_spec_test_vector() {
        let secret = BASE64
            .decode("MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA=")
            .unwrap();
        assert_eq!(
            sign(&secret, "1700000000", br#"{"a":1}"#).unwrap(),
            "6b6G16GuqjAZDNS3w7dU/oFIIy6aodRnlR/ckgC7dII="
        );
    }
}
