//! The Reflector binary: `serve` runs the HTTP API, `migrate` applies database migrations.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use reflector_core::{Env, SystemClock};
use reflector_platforms::{Registry, RetryPolicy};
use reflector_server::{AppState, Settings};
use reflector_store::Store;

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
    /// Run the HTTP API (migrates the database first).
    Serve,
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
        Command::Serve => {
            let platforms = Registry::from_env(&env, RetryPolicy::default(), &settings.base_url)?;
            let store = connect(&settings).await?;
            let address = std::net::SocketAddr::new(settings.host, settings.port);
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on {address} (check HOST and PORT)"))?;
            tracing::info!(
                address = %listener.local_addr()?,
                default_platform = %platforms.default_platform(),
                "Reflector is serving"
            );
            let state = AppState::new(
                settings,
                store.clone(),
                Arc::new(platforms),
                Arc::new(SystemClock),
            );
            reflector_server::serve(listener, state, shutdown_signal()).await?;
            store.close().await;
            tracing::info!("stopped");
            Ok(())
        }
    }
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
