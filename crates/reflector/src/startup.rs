//! Building and running the service from its configuration.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use reflector_app::recordings::Recordings;
use reflector_app::{App, ingest};
use reflector_core::{Clock, ConfigError};
use reflector_platforms::Registry;
use reflector_queue::Queue;
use reflector_server::HttpState;
use reflector_store::{Store, StoreError};
use tokio::sync::{mpsc, watch};

use crate::Config;

/// Which part of the service this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The HTTP API (and usually the jobs). Providers that run inside Reflector (the mock) hold
    /// their calls here, so their events are fed in here.
    Server,
    /// Only the jobs.
    Worker,
}

/// Why the service could not start; each names what to check.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the database (check DATABASE_URL): {0}")]
    Database(#[source] StoreError),
    #[error("cannot open the object storage (check TRANSCRIPT_STORAGE_*): {0}")]
    Storage(#[source] reflector_storage::StorageError),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[source] StoreError),
    #[error("cannot listen on {address} (check HOST and PORT): {source}")]
    Listen {
        address: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// The whole service, built once from a [`Config`].
pub struct Application {
    pub config: Config,
    pub app: Arc<App>,
    provider_events: Option<mpsc::Receiver<(&'static str, reflector_platforms::ProviderEvent)>>,
}

impl Application {
    /// Opens and migrates the database, builds the configured providers and the application.
    pub async fn build(
        config: Config,
        clock: Arc<dyn Clock>,
        role: Role,
    ) -> Result<Self, StartError> {
        // Installed first, so that everything this process does is counted.
        metrics_recorder();
        let store = connect(&config).await?;
        let (events, provider_events) = match role {
            Role::Server => {
                let (tx, rx) = mpsc::channel(1024);
                (Some(tx), Some(rx))
            }
            Role::Worker => (None, None),
        };
        let platforms = Registry::from_env(
            &config.provider_env,
            config.provider_retries.clone(),
            &config.base_url,
            events,
        )?;
        let recordings = Recordings::open(&config.storage).map_err(StartError::Storage)?;
        let queue = Queue::new(store, clock, config.queue.clone());
        let app = Arc::new(App::new(
            queue,
            Arc::new(platforms),
            config.app.clone(),
            recordings,
        ));
        Ok(Self {
            config,
            app,
            provider_events,
        })
    }

    /// The HTTP layer's state for this application.
    pub fn http_state(&self) -> HttpState {
        let page =
            reflector_server::ops::MetricsPage::new(Arc::new(|| metrics_recorder().render()));
        HttpState::new(self.config.http.clone(), self.app.clone(), Some(page))
    }

    /// Serves `/metrics` on `METRICS_LISTEN` when it is set, until `stopped` turns true.
    async fn serve_metrics(
        &self,
        stopped: &watch::Receiver<bool>,
    ) -> Result<Option<tokio::task::JoinHandle<()>>, StartError> {
        let Some(address) = self.config.http.metrics.listen else {
            return Ok(None);
        };
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| StartError::Listen { address, source })?;
        tracing::info!(%address, "metrics at /metrics");
        let router = reflector_server::ops::metrics_router(self.http_state());
        let limits = self.config.http.limits.clone();
        let mut stopped = stopped.clone();
        Ok(Some(tokio::spawn(async move {
            let stop = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            if let Err(e) =
                reflector_server::ops::serve_with_limits(listener, router, &limits, stop).await
            {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        })))
    }

    /// Binds `HOST:PORT`.
    pub async fn listen(&self) -> Result<tokio::net::TcpListener, StartError> {
        let address = self.config.listen;
        tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| StartError::Listen { address, source })
    }

    /// Serves the API on `listener` until `shutdown`, with the jobs when `jobs` is set; then
    /// finishes in-flight requests and running jobs, and closes the database.
    pub async fn serve(
        mut self,
        listener: tokio::net::TcpListener,
        jobs: bool,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        if let Some(events) = self.provider_events.take() {
            tokio::spawn(ingest::consume_provider_events(self.app.clone(), events));
        }
        let (stop, stopped) = watch::channel(false);
        let metrics = self.serve_metrics(&stopped).await?;
        let jobs = jobs.then(|| self.start_jobs(&stopped));
        // At the signal the HTTP side stops accepting at once, and the runner stops claiming
        // at once; each then has the grace period for what is in flight.
        let (signalled, on_signal) = watch::channel(false);
        let notify = async move {
            shutdown.await;
            let _ = signalled.send(true);
        };
        let runner_stop = stop.clone();
        let mut on_signal_jobs = on_signal.clone();
        tokio::spawn(async move {
            let _ = on_signal_jobs.wait_for(|s| *s).await;
            let _ = runner_stop.send(true);
        });
        let served = reflector_server::serve(listener, self.http_state(), notify).await;
        drop(on_signal);
        self.finish(stop, jobs, metrics).await;
        served.map_err(|source| StartError::Listen {
            address: self.config.listen,
            source,
        })
    }

    /// Runs only the jobs until `shutdown` (and `/metrics` on `METRICS_LISTEN`), then lets
    /// running jobs finish within the grace period and hands back the rest.
    pub async fn work(self, shutdown: impl Future<Output = ()>) -> Result<(), StartError> {
        let (stop, stopped) = watch::channel(false);
        let metrics = self.serve_metrics(&stopped).await?;
        let jobs = self.start_jobs(&stopped);
        shutdown.await;
        self.finish(stop, Some(jobs), metrics).await;
        Ok(())
    }

    fn start_jobs(&self, stopped: &watch::Receiver<bool>) -> JobTasks {
        (
            tokio::spawn(self.app.runner().run(stopped.clone())),
            tokio::spawn(self.app.scheduler().run(stopped.clone())),
        )
    }

    async fn finish(
        &self,
        stop: watch::Sender<bool>,
        jobs: Option<JobTasks>,
        metrics: Option<tokio::task::JoinHandle<()>>,
    ) {
        let started = std::time::Instant::now();
        let _ = stop.send(true);
        if let Some((runner, scheduler)) = jobs {
            let _ = runner.await;
            let _ = scheduler.await;
        }
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "jobs stopped"
        );
        self.app.store.close().await;
        tracing::info!("stopped");
    }
}

/// Applies the database migrations and closes the database.
pub async fn migrate(config: &Config) -> Result<(), StartError> {
    connect(config).await?.close().await;
    Ok(())
}

type JobTasks = (tokio::task::JoinHandle<()>, tokio::task::JoinHandle<()>);

async fn connect(config: &Config) -> Result<Store, StartError> {
    let store = Store::connect_with(&config.database_url, &config.store)
        .await
        .map_err(StartError::Database)?;
    store.migrate().await.map_err(StartError::Migrate)?;
    Ok(store)
}

/// The process's metrics recorder (Prometheus), installed once: every crate records through
/// the `metrics` facade, and `/metrics` renders what this collected. Histograms have buckets
/// from 1 ms to 60 s (job waits up to an hour).
fn metrics_recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        const LATENCY: &[f64] = &[
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            60.0,
        ];
        // Events per inbox batch, up to its maximum (512).
        const BATCH: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
        const WAIT: &[f64] = &[
            0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
        ];
        // The buckets are constants and not empty, so these never fail; a failure would leave
        // summaries instead of histograms.
        let builder = PrometheusBuilder::new()
            .set_buckets(LATENCY)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full("reflector_job_wait_seconds".into()), WAIT)
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("reflector_inbox_batch_events".into()),
                    BATCH,
                )
            })
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "metrics: histogram buckets refused; using summaries");
                PrometheusBuilder::new()
            });
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!(
                "metrics: another recorder is installed; /metrics shows only this one's"
            );
        }
        describe_metrics();
        // Folds recorded histogram samples into their buckets, so memory stays bounded between
        // scrapes.
        let upkeep = handle.clone();
        let _ = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            });
        handle
    })
}

/// The `# HELP` lines of the metrics every crate records (the names are listed in the README's
/// Operations section).
fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "reflector_http_requests_total",
        "HTTP requests by method, route pattern and status"
    );
    describe_histogram!(
        "reflector_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by method, route pattern and status"
    );
    describe_counter!(
        "reflector_provider_webhooks_total",
        "Provider webhook deliveries by provider and outcome (new, duplicate, probe, rejected, malformed, unstored)"
    );
    describe_histogram!(
        "reflector_inbox_batch_seconds",
        Unit::Seconds,
        "Time to store one batch of provider events (one transaction), by outcome (stored, failed)"
    );
    describe_histogram!(
        "reflector_inbox_batch_events",
        Unit::Count,
        "Provider events stored per batch (group commit)"
    );
    describe_gauge!(
        "reflector_jobs",
        "Live jobs by kind and state (due, scheduled, running), read from the database"
    );
    describe_gauge!(
        "reflector_job_oldest_due_age_seconds",
        Unit::Seconds,
        "How long the oldest due job of each kind has waited"
    );
    describe_counter!(
        "reflector_jobs_started_total",
        "Job runs started by this process, by kind"
    );
    describe_counter!(
        "reflector_jobs_finished_total",
        "Job runs ended by this process, by kind and outcome (done, rescheduled, retried, failed, handed_back)"
    );
    describe_histogram!(
        "reflector_job_wait_seconds",
        Unit::Seconds,
        "From when a job was due until it was claimed, by kind"
    );
    describe_histogram!(
        "reflector_job_duration_seconds",
        Unit::Seconds,
        "Job run time, by kind"
    );
    describe_counter!(
        "reflector_provider_calls_total",
        "Provider API calls (with their retries) by provider, operation and outcome"
    );
    describe_histogram!(
        "reflector_provider_call_duration_seconds",
        Unit::Seconds,
        "Provider API call latency (with retries) by provider, operation and outcome"
    );
    describe_counter!(
        "reflector_provider_bad_responses_total",
        "Provider answers that were not the JSON expected, by provider"
    );
    describe_counter!(
        "reflector_webhook_deliveries_total",
        "Outgoing room webhook delivery attempts by event and result"
    );
    describe_gauge!(
        "reflector_open_meetings",
        "Active meetings, read from the database"
    );
    describe_gauge!(
        "reflector_open_participants",
        "Participants in active meetings, read from the database"
    );
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: no new requests or jobs; finishing what is in flight");
}
