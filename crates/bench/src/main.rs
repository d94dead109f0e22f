//! `reflector-bench`: starts `reflector serve` (release build, a fresh data folder) as a child
//! process, and measures it from this process over loopback HTTP. Prints figures; asserts
//! nothing. Three benchmarks:
//!
//! - `report` (the default): every figure below in one run, one line each, with throughput as a
//!   ratio to a ceiling (the same HTTP stack answering a constant, measured by the same load
//!   generator in the same run), and a one-line summary last.
//! - `meetings`: start-up time, idle memory (RSS), and the latency of
//!   `POST /v1/rooms/{name}/meeting` on its reuse path at several concurrencies (mock provider).
//! - `webhooks`: signed Daily `participant.joined` webhooks against a fake Daily API served from
//!   this process: ingest latency and throughput at several concurrencies, how long the jobs take
//!   to bring `num_clients` up to date after a burst, and how long one event takes from receipt
//!   to its effect on `num_clients`.
//! - `signatures`: how long unsigned webhooks with oversized signature headers take to refuse.
//! - `recordings`: one 1 GiB recording ingested from a local S3-compatible server (moto):
//!   throughput and the server's peak memory.
//! - `calendar`: one ICS sync of a 10 000-event feed (500 for the room): its wall time and the
//!   server's peak memory.

mod calendar;
mod ceiling;
mod fake_daily;
mod meetings;
mod recordings;
mod report;
mod signatures;
mod webhooks;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "reflector-bench",
    about = "Benchmarks a release build of Reflector"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    /// What to measure; `report` when not given.
    #[command(subcommand)]
    mode: Option<Mode>,
}

/// Options every benchmark takes; they may come before or after the benchmark's name.
#[derive(clap::Args)]
struct Common {
    /// The server binary to measure.
    #[arg(long, global = true, default_value = "target/release/reflector")]
    server: PathBuf,
    /// Requests per concurrency level (default: 3000 for meetings, 1000 for webhooks; for
    /// signatures, requests per case, default 5).
    #[arg(long, global = true)]
    requests: Option<usize>,
    /// Concurrency levels to measure (default: 1,16 for meetings, 1,16,64 for webhooks).
    #[arg(long, global = true, value_delimiter = ',')]
    concurrency: Option<Vec<usize>>,
    /// Database to run on (default: SQLite in a fresh data folder). For postgres://…, each
    /// server gets a fresh database on that server (the user needs CREATEDB), dropped after.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Seconds to let the server sit idle before reading its memory (meetings).
    #[arg(long, global = true, default_value_t = 3)]
    idle_seconds: u64,
    /// An extra variable for the server, e.g. WORKER_CONCURRENCY=8 (repeatable).
    #[arg(long = "server-env", global = true, value_name = "NAME=VALUE", value_parser = name_value)]
    server_env: Vec<(String, String)>,
}

fn name_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("expected NAME=VALUE, got {s:?}")),
    }
}

#[derive(Subcommand)]
enum Mode {
    /// Every figure in one run, as ratios to the ceiling, with a summary line (the default).
    Report(report::Options),
    /// Get-or-create on its reuse path, start-up time and idle memory (mock provider).
    Meetings,
    /// Signed Daily participant.joined webhooks: ingest, catch-up and receipt-to-effect times.
    Webhooks(webhooks::Options),
    /// Unsigned webhooks with oversized signature headers: how long each takes to refuse.
    Signatures(signatures::Options),
    /// The ceiling server (started by `report` as a child process).
    #[command(hide = true)]
    Ceiling {
        #[arg(long)]
        port: u16,
    },
    /// One large recording (1 GiB) ingested from an S3-compatible server (moto): throughput and
    /// peak memory.
    Recordings(recordings::Options),
    /// One ICS sync of a large feed: wall time and the server's peak memory.
    Calendar(calendar::Options),
}

/// The measured server; killed when dropped.
pub(crate) struct Server {
    child: Child,
    pub pid: u32,
    /// `http://127.0.0.1:{port}`
    pub base: String,
    /// From spawning the process to its first healthy answer.
    pub ready: Duration,
    pub path: PathBuf,
    /// How it was started, to start it again ([`Server::restart`]).
    command: Command,
    _data: tempfile::TempDir,
    /// With `--database-url postgres://…`, the run's own database beside the one it names.
    database: Option<reflector_store::ScratchDatabase>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Dropped after the server, whose connections it would otherwise have to force closed.
        drop(self.database.take());
    }
}

impl Server {
    /// Starts `reflector serve` with a clean environment (plus `env`) in a fresh data folder,
    /// which is also its working directory, so no `.env` file is picked up; waits until healthy.
    pub async fn start(
        common: &Common,
        env: &[(&str, String)],
        http: &reqwest::Client,
    ) -> anyhow::Result<Self> {
        let path = std::fs::canonicalize(&common.server).with_context(|| {
            format!(
                "cannot find {} (build it with cargo build --release)",
                common.server.display()
            )
        })?;
        let data = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut command = Command::new(&path);
        command
            .arg("serve")
            .env_clear()
            .current_dir(data.path())
            .env("DATA_DIR", data.path())
            .env("PORT", port.to_string())
            .env("RUST_LOG", "warn");
        // PostgreSQL: a fresh database on that server for each run, so that a run does not
        // start on the tables earlier runs filled (which made their figures drift).
        let database = match common.database_url.as_deref() {
            Some(url) if url.starts_with("postgres") => Some(
                reflector_store::ScratchDatabase::create(url, "reflector_bench")
                    .await
                    .context("cannot create the run's database beside --database-url's (the user needs CREATEDB)")?,
            ),
            _ => None,
        };
        if let Some(url) = database
            .as_ref()
            .map(|d| &d.url)
            .or(common.database_url.as_ref())
        {
            command.env("DATABASE_URL", url);
        }
        for (name, value) in env {
            command.env(name, value);
        }
        for (name, value) in &common.server_env {
            command.env(name, value);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", path.display()))?;
        let started = Instant::now();
        let mut server = Server {
            pid: child.id(),
            child,
            base: format!("http://127.0.0.1:{port}"),
            ready: Duration::ZERO,
            path,
            command,
            _data: data,
            database,
        };
        server.ready = server.wait_until_healthy(started, http).await?;
        Ok(server)
    }

    /// Stops the server and starts it again on the same data folder and database (its schema
    /// created, its tables filled); returns the time from spawning it to healthy.
    pub async fn restart(&mut self, http: &reqwest::Client) -> anyhow::Result<Duration> {
        self.child.kill()?;
        self.child.wait()?;
        self.child = self
            .command
            .spawn()
            .with_context(|| format!("cannot start {} again", self.path.display()))?;
        let started = Instant::now();
        self.pid = self.child.id();
        self.wait_until_healthy(started, http).await
    }

    async fn wait_until_healthy(
        &self,
        started: Instant,
        http: &reqwest::Client,
    ) -> anyhow::Result<Duration> {
        loop {
            if let Ok(r) = http.get(format!("{}/health", self.base)).send().await
                && r.status().is_success()
            {
                return Ok(started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("the server did not become healthy within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .context("no VmRSS in /proc status")
    }

    /// The process's peak RSS so far (VmHWM), in KiB.
    pub fn hwm_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .context("no VmHWM in /proc status")
    }
}

/// How the run's database is described in the output.
pub(crate) fn database_label(common: &Common) -> &'static str {
    match common.database_url.as_deref() {
        Some(url) if url.starts_with("postgres") => {
            "PostgreSQL (a fresh database beside --database-url's)"
        }
        Some(_) => "the database at --database-url",
        None => "SQLite in a fresh DATA_DIR",
    }
}

/// The `--server-env` variables, for the output (empty when there are none).
pub(crate) fn extra_env_label(common: &Common) -> String {
    common
        .server_env
        .iter()
        .map(|(name, value)| format!(", {name}={value}"))
        .collect()
}

/// The `p`th percentile (nearest rank) of sorted samples; zero when there are none.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.common.requests == Some(0) {
        bail!("--requests must be at least 1");
    }
    let mode = match cli.mode {
        Some(Mode::Ceiling { port }) => return ceiling::serve(port),
        Some(mode) => mode,
        None => Mode::Report(report::Options::parse_from(["report"])),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match mode {
            Mode::Report(options) => report::run(&cli.common, &options).await,
            Mode::Meetings => meetings::run(&cli.common).await,
            Mode::Webhooks(options) => webhooks::run(&cli.common, &options).await,
            Mode::Signatures(options) => signatures::run(&cli.common, &options).await,
            Mode::Recordings(options) => recordings::run(&cli.common, &options).await,
            Mode::Calendar(options) => calendar::run(&cli.common, &options).await,
            Mode::Ceiling { .. } => Ok(()),
        }
    })
}
