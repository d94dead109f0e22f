//! The Reflector binary: `serve` runs the HTTP API and the background jobs, `worker` only the
//! jobs, `migrate` applies database migrations. Everything is built by the library's
//! [`Application`], the same way the tests build it.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use reflector::{Application, Config, Role, shutdown_signal};
use reflector_core::{Env, SystemClock};

/// mimalloc instead of the system allocator: a webhook's path allocates a great deal (parsing,
/// the job's JSON, rows), and glibc's malloc and free were a fifth of the server's instructions
/// under webhook load (callgrind; see the README's Benchmark section).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    let config = Config::from_env(&Env::from_process())?;
    let clock: Arc<dyn reflector_core::Clock> = Arc::new(SystemClock);
    match command {
        Command::Migrate => {
            reflector::migrate(&config).await?;
            tracing::info!("migrations applied");
        }
        Command::Serve { no_jobs } => {
            let application = Application::build(config, clock.clone(), Role::Server).await?;
            let listener = application.listen().await?;
            tracing::info!(
                address = %listener.local_addr()?,
                default_platform = %application.app.platforms.default_platform(),
                jobs = !no_jobs,
                "Reflector is serving"
            );
            application
                .serve(listener, !no_jobs, shutdown_signal())
                .await?;
        }
        Command::Worker => {
            let application = Application::build(config, clock, Role::Worker).await?;
            tracing::info!("Reflector worker is running jobs");
            application.work(shutdown_signal()).await?;
        }
    }
    Ok(())
}
