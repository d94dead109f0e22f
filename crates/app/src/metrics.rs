//! The gauges of the metrics page that are read from the database when it is scraped, so they
//! are right across every process sharing it: open meetings and their participants, and the
//! job backlog by kind. The counters and histograms are recorded where things happen (HTTP,
//! webhooks, jobs, provider calls, deliveries) through the `metrics` facade; which recorder
//! collects them is the composition root's choice.

use std::collections::BTreeSet;
use std::sync::Mutex;

use crate::App;

/// Sets the database-derived gauges; remembers the job kinds seen, so a kind whose backlog
/// emptied reads 0 rather than its last value.
#[derive(Default)]
pub struct Gauges {
    kinds: Mutex<BTreeSet<String>>,
}

impl Gauges {
    /// Three cheap queries: a count over active meetings, and one grouped scan of the
    /// unfinished jobs. A failure is logged and leaves the previous values.
    pub async fn refresh(&self, app: &App) {
        match app.store.open_meetings_and_participants().await {
            Ok((meetings, participants)) => {
                metrics::gauge!("reflector_open_meetings").set(meetings as f64);
                metrics::gauge!("reflector_open_participants").set(participants as f64);
            }
            Err(e) => tracing::warn!(error = %e, "metrics: cannot count open meetings"),
        }
        let now = app.clock.now();
        let backlog = match app.store.job_backlog(now).await {
            Ok(backlog) => backlog,
            Err(e) => {
                tracing::warn!(error = %e, "metrics: cannot read the job backlog");
                return;
            }
        };
        let mut kinds = self
            .kinds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut zero: BTreeSet<String> = kinds.clone();
        for b in &backlog {
            zero.remove(&b.kind);
            kinds.insert(b.kind.clone());
            let age = b
                .oldest_due
                .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0)
                .unwrap_or(0.0);
            set_kind(&b.kind, b.due, b.scheduled, b.running, age);
        }
        for kind in zero {
            set_kind(&kind, 0, 0, 0, 0.0);
        }
    }
}

fn set_kind(kind: &str, due: i64, scheduled: i64, running: i64, oldest_due_age: f64) {
    for (state, n) in [("due", due), ("scheduled", scheduled), ("running", running)] {
        metrics::gauge!("reflector_jobs", "kind" => kind.to_owned(), "state" => state)
            .set(n as f64);
    }
    metrics::gauge!("reflector_job_oldest_due_age_seconds", "kind" => kind.to_owned())
        .set(oldest_due_age);
}
