//! Building and running the service from its configuration.

use std::future::Future;
use std::sync::Arc;

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
        let store = connect(&config.database_url).await?;
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
        HttpState::new(self.config.http.clone(), self.app.clone())
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
    ) -> std::io::Result<()> {
        if let Some(events) = self.provider_events.take() {
            tokio::spawn(ingest::consume_provider_events(self.app.clone(), events));
        }
        let (stop, stopped) = watch::channel(false);
        let jobs = jobs.then(|| self.start_jobs(&stopped));
        let served = reflector_server::serve(listener, self.http_state(), shutdown).await;
        self.finish(stop, jobs).await;
        served
    }

    /// Runs only the jobs until `shutdown`, then lets running jobs finish.
    pub async fn work(self, shutdown: impl Future<Output = ()>) {
        let (stop, stopped) = watch::channel(false);
        let jobs = self.start_jobs(&stopped);
        shutdown.await;
        self.finish(stop, Some(jobs)).await;
    }

    fn start_jobs(&self, stopped: &watch::Receiver<bool>) -> JobTasks {
        (
            tokio::spawn(self.app.runner().run(stopped.clone())),
            tokio::spawn(self.app.scheduler().run(stopped.clone())),
        )
    }

    async fn finish(&self, stop: watch::Sender<bool>, jobs: Option<JobTasks>) {
        let _ = stop.send(true);
        if let Some((runner, scheduler)) = jobs {
            let _ = runner.await;
            let _ = scheduler.await;
        }
        self.app.store.close().await;
        tracing::info!("stopped");
    }
}

/// Applies the database migrations and closes the database.
pub async fn migrate(config: &Config) -> Result<(), StartError> {
    connect(&config.database_url).await?.close().await;
    Ok(())
}

type JobTasks = (tokio::task::JoinHandle<()>, tokio::task::JoinHandle<()>);

async fn connect(url: &str) -> Result<Store, StartError> {
    let store = Store::connect(url).await.map_err(StartError::Database)?;
    store.migrate().await.map_err(StartError::Migrate)?;
    Ok(store)
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
    tracing::info!("shutting down: finishing in-flight requests");
}
