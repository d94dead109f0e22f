//! Faults survived with nothing lost: a burst of signed webhooks with duplicates in random
//! order, and the database connection cut in the middle of one.
//!
//! The suite sends the 10 000 deliveries (8 000 distinct events, 20 % repeats) over 50
//! meetings: about 20–30 s per case in a debug build on two cores, since a meeting's events are
//! applied in batches. `BURST_DELIVERIES=N` changes the size, e.g. for a quick local run:
//! `BURST_DELIVERIES=2000 cargo nextest run -p reflector-server --test faults --run-ignored all`.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::seq::SliceRandom;
use reflector_store::Store;
use reflector_testing::fakes::{DAILY_SECRET, daily_signature, fake_daily_echoing_rooms};
use reflector_testing::process::wait_until;
use reflector_testing::{Db, TestApp, on_both_databases};
use serde_json::json;
use wiremock::MockServer;

on_both_databases!(a_burst_of_webhooks_with_duplicates_is_applied_exactly_once);

const MEETINGS: usize = 50;

/// Deliveries in a burst (`BURST_DELIVERIES`, 10 000), 20 % of them repeats.
fn deliveries() -> usize {
    std::env::var("BURST_DELIVERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// Per meeting: sessions that join, and how many of them leave (5:3, so 10 000 deliveries are
/// 100 joins and 60 leaves per meeting).
fn joins_and_leaves() -> (usize, usize) {
    let per_meeting = deliveries() * 8 / 10 / MEETINGS;
    (per_meeting * 5 / 8, per_meeting * 3 / 8)
}

struct Burst {
    /// (event id, body) of every distinct event.
    events: Vec<(String, String)>,
    /// Every delivery: the distinct events and, for 20 % of the total, a repeat; shuffled.
    deliveries: Vec<usize>,
    rooms: Vec<String>,
}

/// `MEETINGS` meetings, each with `JOINS` joins and `LEAVES` leaves.
fn burst(rooms: Vec<String>, duplicates_of_total: f64) -> Burst {
    let (joins, leaves) = joins_and_leaves();
    let mut events = Vec::new();
    for room in &rooms {
        for s in 0..joins {
            for kind in ["participant.joined", "participant.left"] {
                if kind == "participant.left" && s >= leaves {
                    continue;
                }
                let id = format!("{room}-{kind}-{s}");
                let body = json!({
                    "version": "1.0.0", "type": kind, "id": id, "event_ts": 1767225600,
                    "payload": {"room": room, "session_id": format!("{room}-s{s}"),
                                "user_name": format!("P{s}"), "joined_at": 1767225600, "duration": 5}
                })
                .to_string();
                events.push((id, body));
            }
        }
    }
    let unique = events.len();
    let total = (unique as f64 / (1.0 - duplicates_of_total)).round() as usize;
    let mut rng = rand::rng();
    let mut deliveries: Vec<usize> = (0..unique).collect();
    let mut repeats: Vec<usize> = (0..unique).collect();
    repeats.shuffle(&mut rng);
    deliveries.extend(repeats.into_iter().cycle().take(total - unique));
    deliveries.shuffle(&mut rng);
    Burst {
        events,
        deliveries,
        rooms,
    }
}

async fn daily_app_with_meetings(app: &TestApp) -> Vec<String> {
    let mut rooms = Vec::new();
    for i in 0..MEETINGS {
        let name = format!("room-{i:02}");
        app.room(json!({"name": name, "platform": "daily"})).await;
        let (status, meeting) = app
            .post(&format!("/v1/rooms/{name}/meeting"), json!({}))
            .await;
        assert_eq!(status, 200, "{meeting}");
        // The fake Daily names the room as asked: `{room}-{time}-{hex}`.
        let url = meeting["room_url"].as_str().unwrap();
        rooms.push(
            url.rsplit('/')
                .next()
                .unwrap()
                .split('?')
                .next()
                .unwrap()
                .to_owned(),
        );
    }
    rooms
}

fn daily_env(
    daily: &MockServer,
    extra: &[(&'static str, &'static str)],
) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("DAILY_API_KEY", "d-key".to_owned()),
        ("DAILY_API_URL", daily.uri()),
        ("DAILY_WEBHOOK_SECRET", DAILY_SECRET.to_owned()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    env
}

/// Sends the deliveries from `concurrency` clients; each delivery's status (0: no answer).
async fn send_all(app: &TestApp, burst: &Burst, concurrency: usize) -> Vec<(usize, u16)> {
    let queue = Arc::new(Mutex::new(
        burst.deliveries.iter().copied().collect::<VecDeque<_>>(),
    ));
    let events = Arc::new(burst.events.clone());
    let answers = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..concurrency)
        .map(|_| {
            let (queue, events, answers) = (queue.clone(), events.clone(), answers.clone());
            let (http, url) = (app.http.clone(), format!("{}/v1/daily/webhook", app.url));
            tokio::spawn(async move {
                loop {
                    let Some(i) = queue.lock().unwrap().pop_front() else {
                        break;
                    };
                    let body = &events[i].1;
                    let ts = Utc::now().timestamp();
                    let status = http
                        .post(&url)
                        .header("x-webhook-timestamp", ts.to_string())
                        .header(
                            "x-webhook-signature",
                            daily_signature(DAILY_SECRET, ts, body.as_bytes()),
                        )
                        .body(body.clone())
                        .send()
                        .await
                        .map_or(0, |r| r.status().as_u16());
                    answers.lock().unwrap().push((i, status));
                }
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    Arc::try_unwrap(answers).unwrap().into_inner().unwrap()
}

/// Runs the application's jobs with a real runner until every stored event is applied.
async fn apply_all(app: &TestApp, expected: i64) -> Duration {
    let started = Instant::now();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let runner = tokio::spawn(app.app.runner().run(stopped));
    wait_until(
        "every event is applied",
        Duration::from_secs(900),
        || async { app.store.inbox_counts().await.unwrap() == (expected, expected) },
    )
    .await;
    let _ = stop.send(true);
    runner.await.unwrap();
    started.elapsed()
}

async fn assert_sessions_exact(store: &Store, rooms: &[String]) {
    let (joins, leaves) = joins_and_leaves();
    for room in rooms {
        let meeting = store
            .meeting_by_provider_room("daily", room)
            .await
            .unwrap()
            .unwrap();
        let sessions = store.participant_sessions(&meeting.id).await.unwrap();
        let distinct: HashSet<_> = sessions.iter().map(|s| &s.platform_session_id).collect();
        assert_eq!((sessions.len(), distinct.len()), (joins, joins), "{room}");
        let open = sessions.iter().filter(|s| s.left_at.is_none()).count();
        assert_eq!(open, joins - leaves, "{room}");
        assert_eq!(meeting.num_clients, (joins - leaves) as i64, "{room}");
    }
}

async fn a_burst_of_webhooks_with_duplicates_is_applied_exactly_once(db: Db) {
    let daily = fake_daily_echoing_rooms().await;
    let env = daily_env(&daily, &[("WORKER_CONCURRENCY", "8")]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn(db, &env).await;
    let rooms = daily_app_with_meetings(&app).await;
    let burst = burst(rooms, 0.2);
    let unique = burst.events.len();
    assert_eq!(burst.deliveries.len(), deliveries());
    assert_eq!(unique, deliveries() * 8 / 10);

    let started = Instant::now();
    let answers = send_all(&app, &burst, 32).await;
    let sent_in = started.elapsed();
    assert!(
        answers.iter().all(|(_, status)| *status == 200),
        "every delivery is answered 200"
    );
    assert_eq!(app.store.inbox_counts().await.unwrap().0, unique as i64);
    let applied_in = apply_all(&app, unique as i64).await;
    assert_sessions_exact(&app.store, &burst.rooms).await;
    eprintln!(
        "{db:?}: {} deliveries ({unique} distinct) answered in {} ms, applied in {} ms",
        burst.deliveries.len(),
        sent_in.as_millis(),
        applied_in.as_millis()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "PostgreSQL: runs when TEST_DATABASE_URL is set (scripts/test)"]
async fn a_database_cut_mid_burst_loses_nothing_answered_200() {
    let daily = fake_daily_echoing_rooms().await;
    let env = daily_env(&daily, &[("WORKER_CONCURRENCY", "8")]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (app, proxy) = TestApp::spawn_behind_proxy(Db::Postgres, &env).await;
    let rooms = daily_app_with_meetings(&app).await;
    let burst = burst(rooms, 0.2);
    let unique = burst.events.len();

    // The connection is cut while the burst is being sent, and comes back 1.5 s later.
    let cutter = {
        let store = Store::connect(app.database_url()).await.unwrap();
        tokio::spawn(async move {
            wait_until(
                "part of the burst is stored",
                Duration::from_secs(60),
                || async { store.inbox_counts().await.unwrap().0 >= (unique / 4) as i64 },
            )
            .await;
            proxy.cut();
            tokio::time::sleep(Duration::from_millis(1500)).await;
            proxy.restore();
            store.close().await;
            proxy
        })
    };
    let answers = send_all(&app, &burst, 32).await;
    let proxy = cutter.await.unwrap();
    let direct = Store::connect(app.database_url()).await.unwrap();
    let stored: HashSet<String> = direct
        .inbox_event_ids("daily")
        .await
        .unwrap()
        .into_iter()
        .collect();
    let mut by_status: HashMap<u16, usize> = HashMap::new();
    for (i, status) in &answers {
        *by_status.entry(*status).or_default() += 1;
        let id = &burst.events[*i].0;
        match status {
            200 => assert!(
                stored.contains(id),
                "{id} was answered 200 but is not stored"
            ),
            503 => {}
            other => {
                panic!("{id} was answered {other}: only 200 or 503 let the provider act right")
            }
        }
    }
    let refused = by_status.get(&503).copied().unwrap_or(0);
    assert!(
        refused > 0,
        "the cut must have refused some deliveries to mean anything: {by_status:?}"
    );
    for (i, status) in &answers {
        if !stored.contains(&burst.events[*i].0) {
            assert_eq!(*status, 503, "an event not stored was answered {status}");
        }
    }
    // The provider redelivers what was refused; then everything is applied exactly once.
    let redeliver = Burst {
        events: burst.events.clone(),
        deliveries: answers
            .iter()
            .filter(|(_, s)| *s != 200)
            .map(|(i, _)| *i)
            .collect(),
        rooms: Vec::new(),
    };
    let again = send_all(&app, &redeliver, 16).await;
    assert!(
        again.iter().all(|(_, s)| *s == 200),
        "redeliveries are stored"
    );
    assert_eq!(app.store.inbox_counts().await.unwrap().0, unique as i64);
    apply_all(&app, unique as i64).await;
    assert_sessions_exact(&direct, &burst.rooms).await;
    eprintln!(
        "database cut mid-burst: {by_status:?} ({} connections through the proxy); {} redelivered",
        proxy.connections(),
        redeliver.deliveries.len()
    );
    direct.close().await;
    app.stop().await;
}
