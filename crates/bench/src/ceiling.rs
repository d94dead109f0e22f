//! The ceiling: the same HTTP stack as Reflector (axum on hyper, a multi-threaded tokio runtime)
//! answering every POST with a constant `{"status":"ok"}` after reading its body, in a child
//! process (this binary, re-run with the hidden `ceiling` command). Driven by the same load
//! generator as the server, it shows what the machine allows, so the server's figures can be
//! given as a ratio to it, measured in the same run.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Json;
use axum::body::Bytes;
use axum::routing::post;

/// The ceiling server; killed when dropped.
pub struct Ceiling {
    child: Child,
    /// `http://127.0.0.1:{port}`
    pub base: String,
}

impl Drop for Ceiling {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Ceiling {
    /// Starts the ceiling server and waits until it answers.
    pub async fn start(http: &reqwest::Client) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let exe = std::env::current_exe().context("finding reflector-bench itself")?;
        let child = Command::new(exe)
            .args(["ceiling", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the ceiling server")?;
        let ceiling = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while http
            .post(format!("{}/ready", ceiling.base))
            .send()
            .await
            .is_err()
        {
            if started.elapsed() > Duration::from_secs(10) {
                bail!("the ceiling server did not answer within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(ceiling)
    }
}

#[derive(serde::Serialize)]
struct Status {
    status: &'static str,
}

/// Serves the ceiling on 127.0.0.1:`port` until killed (the hidden `ceiling` command).
pub fn serve(port: u16) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let app = axum::Router::new().fallback(post(|body: Bytes| async move {
            std::hint::black_box(body);
            Json(Status { status: "ok" })
        }));
        axum::serve(listener, app).await?;
        anyhow::Ok(())
    })
}
