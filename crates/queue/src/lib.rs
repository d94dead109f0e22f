//! A durable job queue on the project's own database, knowing nothing of what the jobs do: the
//! [`Queue`] enqueues, a [`Runner`] claims and runs jobs through the application's [`Handler`],
//! and a [`Scheduler`] enqueues periodic tasks with one leader among any number of processes.
//!
//! The queue is our own (`reflector_store`'s `job` and `lease` tables) rather than a library's:
//! the Rust job queues that persist to a database (sqlxmq, graphile_worker, ishikari, pgboss,
//! simple-queue) are PostgreSQL-only, while Reflector's laptop default is SQLite; and none keeps
//! two jobs with the same lock key (one meeting's) from running at once.

mod runner;
mod scheduler;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reflector_core::{Clock, ConfigError, Env};
use reflector_store::{NewJob, Store};
use tokio::sync::Notify;

pub use runner::{Runner, skew_tolerance};
pub use scheduler::{PeriodicTask, Scheduler};

/// How a job ended.
#[derive(Debug)]
pub enum Outcome {
    Done,
    /// Planned follow-up at a later time (not a failure), e.g. a webhook's next attempt.
    RunAgainAt(DateTime<Utc>),
}

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth trying again later (a provider or the database was unavailable).
    #[error("{0}")]
    Retry(String),
    /// Will not succeed however often it runs.
    #[error("{0}")]
    Permanent(String),
}

impl From<reflector_store::StoreError> for JobError {
    fn from(e: reflector_store::StoreError) -> Self {
        JobError::Retry(e.to_string())
    }
}

/// What the application does with its jobs. The queue stores a job as its kind and a text
/// payload; the handler decodes the payload into its own (versioned) type.
pub trait Handler: Send + Sync + 'static {
    type Job: Send + Sync;

    /// The job behind a stored payload, or why it cannot be read (the job then fails for good).
    fn decode(&self, payload: &str) -> Result<Self::Job, String>;

    /// Does the work. Must be idempotent: a job whose worker died after the work but before
    /// recording it runs again.
    fn run(&self, job: &Self::Job) -> impl Future<Output = Result<Outcome, JobError>> + Send;

    /// The longest one run of `job` may take; a run still going then is stopped and retried
    /// like a failure. Every job has one, so no job can hold its lease (and its lock key)
    /// forever.
    fn time_limit(&self, _job: &Self::Job) -> Duration {
        DEFAULT_TIME_LIMIT
    }

    /// Called once when a job gives up for good, to mark what it was about as failed.
    fn gave_up(
        &self,
        job: &Self::Job,
        error: &str,
    ) -> impl Future<Output = Result<(), JobError>> + Send;
}

/// A job's time limit unless its handler says otherwise.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(300);

/// The queue settings (SPEC §6 jobs), read from the environment.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// How long a claimed job is ours without a heartbeat (`JOB_LEASE_SECONDS`, 30); a crashed
    /// worker's jobs are taken over after this.
    pub lease: Duration,
    /// Jobs one worker process runs at once (`WORKER_CONCURRENCY`, 4).
    pub concurrency: usize,
    /// How often an idle worker looks for jobs enqueued by other processes
    /// (`JOB_POLL_MILLISECONDS`, 500).
    pub poll: Duration,
    /// At shutdown, how long running jobs may go on before they are stopped and handed back
    /// (`SHUTDOWN_GRACE_SECONDS`, 20, read by the binary's configuration).
    pub shutdown_grace: Duration,
}

impl QueueSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let lease: u64 = env.parse_or("JOB_LEASE_SECONDS", 30)?;
        if lease == 0 {
            return Err(ConfigError::new("JOB_LEASE_SECONDS", "must be at least 1"));
        }
        let concurrency: usize = env.parse_or("WORKER_CONCURRENCY", 4)?;
        if concurrency == 0 {
            return Err(ConfigError::new("WORKER_CONCURRENCY", "must be at least 1"));
        }
        Ok(Self {
            lease: Duration::from_secs(lease),
            concurrency,
            // Bounded below so a typo cannot turn idle workers into a busy loop on the database.
            poll: Duration::from_millis(env.parse_or::<u64>("JOB_POLL_MILLISECONDS", 500)?.max(10)),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        })
    }
}

/// `SHUTDOWN_GRACE_SECONDS`' default.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Where work is enqueued: the store's job table, plus a wake-up for this process's runner.
#[derive(Clone)]
pub struct Queue {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub settings: QueueSettings,
    wake: Arc<Notify>,
}

impl Queue {
    pub fn new(store: Store, clock: Arc<dyn Clock>, settings: QueueSettings) -> Self {
        Self {
            store,
            clock,
            settings,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Enqueues `job`; `false` when a live job with its dedupe key exists. A runner of this
    /// process is woken when the job is due now.
    pub async fn enqueue(&self, job: &NewJob) -> reflector_store::Result<bool> {
        let now = self.clock.now();
        let queued = self.store.enqueue(job, now).await?;
        if queued && job.run_at <= now {
            self.wake();
        }
        Ok(queued)
    }

    /// Wakes an idle runner of this process (after work was enqueued by other means, such as
    /// in a transaction of the application's).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) async fn woken(&self) {
        self.wake.notified().await;
    }
}
