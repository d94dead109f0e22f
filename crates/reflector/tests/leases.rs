//! A job never runs twice at once: clocks that differ by less than the stated tolerance (half
//! the lease) never let a live job be taken over, and a job whose lease cannot be renewed (the
//! database is unreachable) is stopped before that lease runs out.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reflector_core::{Clock, SystemClock};
use reflector_queue::{Handler, JobError, Outcome, Queue, QueueSettings, Runner, skew_tolerance};
use reflector_store::{NewJob, Store};
use reflector_testing::proxy::TcpProxy;
use reflector_testing::{Db, on_both_stores};

const LEASE: Duration = Duration::from_secs(2);

/// One kind of job that takes `length`, counting how many run at once.
#[derive(Clone)]
struct Slow {
    length: Duration,
    running: Arc<AtomicUsize>,
    most_at_once: Arc<AtomicUsize>,
    runs: Arc<AtomicUsize>,
    /// When a run ended, finished or stopped (by the database's clock's reckoning: UTC now).
    ended_at: Arc<Mutex<Option<DateTime<Utc>>>>,
}

impl Slow {
    fn new(length: Duration) -> Self {
        Self {
            length,
            running: Arc::default(),
            most_at_once: Arc::default(),
            runs: Arc::default(),
            ended_at: Arc::default(),
        }
    }
}

struct Running(Slow);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
        *self.0.ended_at.lock().unwrap() = Some(Utc::now());
    }
}

impl Handler for Slow {
    type Job = ();

    fn decode(&self, _payload: &str) -> Result<(), String> {
        Ok(())
    }

    async fn run(&self, _job: &()) -> Result<Outcome, JobError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_at_once.fetch_max(now, Ordering::SeqCst);
        self.runs.fetch_add(1, Ordering::SeqCst);
        let _running = Running(self.clone());
        tokio::time::sleep(self.length).await;
        Ok(Outcome::Done)
    }

    async fn gave_up(&self, _job: &(), _error: &str) -> Result<(), JobError> {
        Ok(())
    }
}

/// A clock `ahead` of the real one.
struct Ahead(chrono::Duration);

impl Clock for Ahead {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.0
    }
}

fn settings() -> QueueSettings {
    QueueSettings {
        lease: LEASE,
        concurrency: 1,
        poll: Duration::from_millis(20),
        shutdown_grace: Duration::from_secs(1),
    }
}

async fn enqueue_one(store: &Store) {
    let now = Utc::now();
    let job = NewJob {
        kind: "slow".into(),
        payload: "{}".into(),
        lock_key: None,
        dedupe_key: None,
        dedupe_until_claimed: false,
        run_at: now,
        max_attempts: 5,
    };
    assert!(store.enqueue(&job, now).await.unwrap());
}

/// Runner `a` (the real clock) runs a 3 s job with a 2 s lease; runner `b`, whose clock is
/// `ahead`, keeps trying to claim it meanwhile. Returns (most runs at once, runs in all).
async fn race(store: Store, ahead: chrono::Duration) -> (usize, usize) {
    let handler = Arc::new(Slow::new(Duration::from_secs(3)));
    enqueue_one(&store).await;
    let a = Runner::new(
        Queue::new(store.clone(), Arc::new(SystemClock), settings()),
        handler.clone(),
    );
    let b = Runner::new(
        Queue::new(store.clone(), Arc::new(Ahead(ahead)), settings()),
        handler.clone(),
    );
    let first = tokio::spawn(async move { a.run_until_idle().await });
    while handler.runs.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let second = tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(3200);
        while tokio::time::Instant::now() < deadline {
            b.run_until_idle().await;
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    });
    first.await.unwrap();
    second.await.unwrap();
    (
        handler.most_at_once.load(Ordering::SeqCst),
        handler.runs.load(Ordering::SeqCst),
    )
}

on_both_stores!(
    a_clock_ahead_within_the_tolerance_never_takes_over_a_live_job,
    a_clock_ahead_beyond_the_lease_would_take_over_so_the_check_means_something,
);

async fn a_clock_ahead_within_the_tolerance_never_takes_over_a_live_job(store: Store) {
    assert_eq!(skew_tolerance(LEASE), Duration::from_secs(1));
    let just_within = chrono::Duration::milliseconds(900);
    assert_eq!(race(store, just_within).await, (1, 1));
}

async fn a_clock_ahead_beyond_the_lease_would_take_over_so_the_check_means_something(store: Store) {
    let beyond = chrono::Duration::milliseconds(2500);
    let (at_once, runs) = race(store, beyond).await;
    assert_eq!(
        at_once, 2,
        "the skewed runner took over the live job ({runs} runs)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "PostgreSQL: runs when TEST_DATABASE_URL is set (scripts/test)"]
async fn a_job_whose_lease_cannot_be_renewed_stops_before_the_lease_runs_out() {
    let database = Db::Postgres.fresh().await;
    let direct = Store::connect(&database.url).await.unwrap();
    direct.migrate().await.unwrap();
    let (proxy, url) = TcpProxy::for_database(&database.url).await;
    let through = Store::connect(&url).await.unwrap();
    let handler = Arc::new(Slow::new(Duration::from_secs(30)));
    enqueue_one(&direct).await;
    let runner = Runner::new(
        Queue::new(through.clone(), Arc::new(SystemClock), settings()),
        handler.clone(),
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(runner.run(stopped));
    reflector_testing::process::wait_until("the job runs", Duration::from_secs(10), || async {
        handler.running.load(Ordering::SeqCst) == 1
    })
    .await;
    // Let a heartbeat or two renew the lease, then cut the database off.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    proxy.cut();
    reflector_testing::process::wait_until(
        "the job is stopped",
        Duration::from_secs(10),
        || async { handler.running.load(Ordering::SeqCst) == 0 },
    )
    .await;
    let stopped_at = handler.ended_at.lock().unwrap().unwrap();
    let lease = direct.job_leases().await.unwrap();
    let locked_until = lease[0]
        .locked_until
        .expect("the job still holds its lease");
    assert!(
        stopped_at < locked_until,
        "stopped at {stopped_at}, after its lease ran out at {locked_until}"
    );
    eprintln!(
        "stopped {} ms before the lease would have run out",
        (locked_until - stopped_at).num_milliseconds()
    );
    // Once the database is back, the job runs again (here or elsewhere) and nothing is lost.
    proxy.restore();
    let _ = stop.send(true);
    running.await.unwrap();
    let after = direct.job_leases().await.unwrap();
    assert_eq!(after.len(), 1);
    assert_ne!(after[0].status, "failed", "{after:?}");
    through.close().await;
    direct.close().await;
    database.drop_database().await;
}
