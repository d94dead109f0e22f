//! The Reflector binary: `serve` runs the HTTP API and the background jobs, `worker` only the
//! jobs, `migrate` applies database migrations.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use reflector_core::{Env, SystemClock};
use reflector_jobs::{JobContext, JobSettings, Runner, Scheduler};
use reflector_platforms::{EventSink, Registry, RetryPolicy};
use reflector_server::{AppState, Settings};
use reflector_store::Store;
use tokio::sync::{mpsc, watch};

#[derive(Parser)]
#[command(
    name = "reflector",
    version,
    about = "Self-hosted meetings, recordings and transcripts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API and the background jobs (migrates the database first).
    Serve {
        /// Run only the HTTP API; leave the jobs to `reflector worker` processes.
        #[arg(long)]
        no_jobs: bool,
    },
    /// Run only the background jobs (any number of workers may share one database).
    Worker,
    /// Apply database migrations and exit.
    Migrate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A `.env` in the working directory fills in variables the environment does not set.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("error: cannot read .env: {e}");
        return ExitCode::FAILURE;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into()),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    let env = Env::from_process();
    let settings = Settings::from_env(&env)?;
    match command {
        Command::Migrate => {
            let store = connect(&settings).await?;
            store.close().await;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Serve { no_jobs } => {
            // The mock provider's calls happen in this process; its events come in here.
            let (events, mock_events) = mpsc::channel(1024);
            let ctx = context(&env, &settings, Some(events)).await?;
            tokio::spawn(reflector_jobs::consume_provider_events(
                ctx.clone(),
                mock_events,
            ));
            let address = std::net::SocketAddr::new(settings.host, settings.port);
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on {address} (check HOST and PORT)"))?;
            tracing::info!(
                address = %listener.local_addr()?,
                default_platform = %ctx.platforms.default_platform(),
                jobs = !no_jobs,
                "Reflector is serving"
            );
            let (stop, stopped) = watch::channel(false);
            let jobs = (!no_jobs).then(|| start_jobs(&ctx, &stopped));
            let state = AppState::new(settings, ctx.clone());
            reflector_server::serve(listener, state, shutdown_signal()).await?;
            finish(stop, jobs, &ctx).await;
            Ok(())
        }
        Command::Worker => {
            let ctx = context(&env, &settings, None).await?;
            tracing::info!("Reflector worker is running jobs");
            let (stop, stopped) = watch::channel(false);
            let jobs = start_jobs(&ctx, &stopped);
            shutdown_signal().await;
            finish(stop, Some(jobs), &ctx).await;
            Ok(())
        }
    }
}

type JobTasks = (tokio::task::JoinHandle<()>, tokio::task::JoinHandle<()>);

async fn context(
    env: &Env,
    settings: &Settings,
    events: Option<EventSink>,
) -> anyhow::Result<Arc<JobContext>> {
    let platforms = Registry::from_env(env, RetryPolicy::default(), &settings.base_url, events)?;
    let job_settings = JobSettings::from_env(env)?;
    let store = connect(settings).await?;
    Ok(Arc::new(JobContext::new(
        store,
        Arc::new(platforms),
        Arc::new(SystemClock),
        job_settings,
    )))
}

fn start_jobs(ctx: &Arc<JobContext>, stopped: &watch::Receiver<bool>) -> JobTasks {
    (
        tokio::spawn(Runner::new(ctx.clone()).run(stopped.clone())),
        tokio::spawn(Scheduler::new(ctx.clone()).run(stopped.clone())),
    )
}

/// Stops the jobs after letting running ones finish, then closes the database.
async fn finish(stop: watch::Sender<bool>, jobs: Option<JobTasks>, ctx: &JobContext) {
    let _ = stop.send(true);
    if let Some((runner, scheduler)) = jobs {
        let _ = runner.await;
        let _ = scheduler.await;
    }
    ctx.store.close().await;
    tracing::info!("stopped");
}

async fn connect(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::connect(&settings.database_url)
        .await
        .context("cannot open the database (check DATABASE_URL)")?;
    store
        .migrate()
        .await
        .context("cannot migrate the database")?;
    Ok(store)
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
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
