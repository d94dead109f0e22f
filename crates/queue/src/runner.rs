//! The job runner: claims jobs from the queue, runs them with a heartbeat that keeps their
//! lease, and records the outcome. Any number of runners, in any number of processes, share one
//! queue; a job whose runner died is taken over when its lease runs out.
//!
//! A job never runs twice at once:
//! - the heartbeat renews the lease every quarter of it; when a renewal has not succeeded for
//!   half the lease (the database is unreachable, or slow), the job is stopped, well before its
//!   lease runs out and another worker may take it over;
//! - every run has a time limit ([`Handler::time_limit`]);
//! - lease times are written by the holder's clock and compared by the taker's. Clocks may
//!   differ by up to half the lease (15 s at the default 30 s) without a live job being taken
//!   over; the runner checks its clock against the database's at start and warns beyond that.
//!
//! At shutdown no job is claimed any more; running jobs get `shutdown_grace` to finish, then are
//! stopped and handed back (claimable at once, the attempt not counted).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reflector_store::ClaimedJob;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::{Handler, JobError, Outcome, Queue};

/// Waits before the next attempt of a failed job: 5 s doubling, at most 5 min.
fn retry_delay(attempts: i64) -> chrono::Duration {
    let exponent = u32::try_from(attempts.clamp(1, 7) - 1).unwrap_or(0);
    chrono::Duration::seconds(5 * 2_i64.pow(exponent)).min(chrono::Duration::minutes(5))
}

/// The clock skew between workers that leases tolerate: half the lease.
pub fn skew_tolerance(lease: Duration) -> Duration {
    lease / 2
}

pub struct Runner<H: Handler> {
    queue: Queue,
    handler: Arc<H>,
    worker_id: String,
}

/// Why a job's run stopped before it finished.
enum Stopped {
    /// Another worker holds it now, or its lease could not be renewed in time.
    Lease(JobError),
    /// Shutdown: hand it back.
    Cancelled,
}

impl<H: Handler> Runner<H> {
    pub fn new(queue: Queue, handler: Arc<H>) -> Self {
        Self {
            queue,
            handler,
            worker_id: format!("worker-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    fn lease_until(&self) -> DateTime<Utc> {
        self.queue.clock.now()
            + chrono::Duration::from_std(self.queue.settings.lease)
                .unwrap_or(chrono::Duration::seconds(30))
    }

    /// Claims and runs jobs until `shutdown` turns true; then lets running jobs finish within
    /// the grace period, and hands back those that did not.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(this.queue.settings.concurrency));
        let (cancel, cancelled) = watch::channel(false);
        let mut running = JoinSet::new();
        tracing::info!(worker = %this.worker_id, concurrency = this.queue.settings.concurrency, "job runner started");
        this.check_clock().await;
        loop {
            while running.try_join_next().is_some() {}
            // Waiting for a free slot also ends at shutdown, and no job is claimed after it.
            let slot = tokio::select! {
                slot = slots.clone().acquire_owned() => slot,
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    continue;
                }
            };
            let Ok(slot) = slot else { break };
            if *shutdown.borrow() {
                break;
            }
            let claimed_at = Instant::now();
            let claimed = match this
                .queue
                .store
                .claim_job(&this.worker_id, this.queue.clock.now(), this.lease_until())
                .await
            {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim a job; retrying shortly");
                    None
                }
            };
            match claimed {
                Some(job) => {
                    let runner = this.clone();
                    let cancelled = cancelled.clone();
                    running.spawn(async move {
                        runner.execute(job, claimed_at, cancelled).await;
                        drop(slot);
                    });
                }
                None => {
                    drop(slot);
                    tokio::select! {
                        () = this.queue.woken() => {}
                        () = tokio::time::sleep(this.queue.settings.poll) => {}
                        changed = shutdown.changed() => {
                            if changed.is_err() {
                                break;
                            }
                        }
                    }
                }
            }
        }
        let grace = this.queue.settings.shutdown_grace;
        if !running.is_empty() {
            tracing::info!(worker = %this.worker_id, jobs = running.len(), grace_s = grace.as_secs_f64(), "stopping: letting running jobs finish");
        }
        let drained = tokio::time::timeout(grace, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(worker = %this.worker_id, jobs = running.len(), "jobs still running after the shutdown grace period: handing them back");
            let _ = cancel.send(true);
            while running.join_next().await.is_some() {}
        }
        tracing::info!(worker = %this.worker_id, "job runner stopped");
    }

    /// Runs every job that is due now, one at a time, until none is left (tests and tools).
    /// Returns how many ran.
    pub async fn run_until_idle(&self) -> usize {
        let (_never, cancelled) = watch::channel(false);
        let mut ran = 0;
        loop {
            let claimed_at = Instant::now();
            let Ok(Some(job)) = self
                .queue
                .store
                .claim_job(&self.worker_id, self.queue.clock.now(), self.lease_until())
                .await
            else {
                break;
            };
            self.execute(job, claimed_at, cancelled.clone()).await;
            ran += 1;
        }
        ran
    }

    /// Warns when this process's clock and the database's differ by more than leases tolerate.
    async fn check_clock(&self) {
        let before = self.queue.clock.now();
        let Ok(database) = self.queue.store.database_time().await else {
            return;
        };
        let after = self.queue.clock.now();
        let ours = before + (after - before) / 2;
        let skew = (ours - database).abs().to_std().unwrap_or_default();
        let tolerance = skew_tolerance(self.queue.settings.lease);
        if skew > tolerance {
            tracing::warn!(
                skew_ms = skew.as_millis() as u64,
                tolerance_ms = tolerance.as_millis() as u64,
                "this machine's clock differs from the database's by more than job leases tolerate: synchronise the clocks (NTP) or raise JOB_LEASE_SECONDS"
            );
        }
    }

    /// Runs one claimed job, keeping its lease alive, and records the result.
    async fn execute(
        &self,
        job: ClaimedJob,
        claimed_at: Instant,
        mut cancelled: watch::Receiver<bool>,
    ) {
        let kind = job.kind.clone();
        let waited = (self.queue.clock.now() - job.run_at)
            .to_std()
            .unwrap_or_default();
        metrics::histogram!("reflector_job_wait_seconds", "kind" => kind.clone())
            .record(waited.as_secs_f64());
        metrics::counter!("reflector_jobs_started_total", "kind" => kind.clone()).increment(1);
        let started = Instant::now();
        let parsed = self.handler.decode(&job.payload);
        let work = parsed.as_ref().ok();
        let result = match &parsed {
            Err(e) => Err(JobError::Permanent(format!("unreadable job payload: {e}"))),
            Ok(_) if job.attempts > job.max_attempts => Err(JobError::Permanent(format!(
                "gave up after {} attempts",
                job.max_attempts
            ))),
            Ok(work) => {
                let limit = self.handler.time_limit(work);
                let stopped = tokio::select! {
                    result = tokio::time::timeout(limit, self.handler.run(work)) => Ok(result),
                    lost = self.heartbeat(&job, claimed_at) => Err(Stopped::Lease(lost)),
                    () = wait_for(&mut cancelled) => Err(Stopped::Cancelled),
                };
                match stopped {
                    Ok(Ok(result)) => result,
                    Ok(Err(_)) => Err(JobError::Retry(format!(
                        "stopped: took longer than the job's time limit of {} s",
                        limit.as_secs()
                    ))),
                    Err(Stopped::Lease(lost)) => Err(lost),
                    Err(Stopped::Cancelled) => {
                        self.hand_back(&job).await;
                        return;
                    }
                }
            }
        };
        let outcome_label;
        let now = self.queue.clock.now();
        let recorded = match result {
            Ok(Outcome::Done) => {
                outcome_label = "done";
                self.queue.store.complete_job(&job, now).await
            }
            Ok(Outcome::RunAgainAt(at)) => {
                outcome_label = "rescheduled";
                self.queue.store.reschedule_job(&job, at).await
            }
            Err(JobError::Retry(error)) if job.attempts < job.max_attempts => {
                outcome_label = "retried";
                tracing::warn!(job = %job.kind, attempt = job.attempts, %error, "job failed; will retry");
                self.queue
                    .store
                    .fail_job(&job, &error, now, Some(now + retry_delay(job.attempts)))
                    .await
                    .map(drop)
            }
            Err(e) => {
                outcome_label = "failed";
                tracing::error!(job = %job.kind, attempt = job.attempts, error = %e, "job failed for good");
                let failed = self
                    .queue
                    .store
                    .fail_job(&job, &e.to_string(), now, None)
                    .await;
                // Only the claim that failed the job marks what it was about: a job taken over
                // by another worker is that worker's to finish.
                if let (Ok(true), Some(work)) = (&failed, work)
                    && let Err(mark) = self.handler.gave_up(work, &e.to_string()).await
                {
                    tracing::warn!(job = %job.kind, error = %mark, "could not mark what a failed job was about");
                }
                failed.map(drop)
            }
        };
        metrics::counter!("reflector_jobs_finished_total", "kind" => kind.clone(), "outcome" => outcome_label)
            .increment(1);
        metrics::histogram!("reflector_job_duration_seconds", "kind" => kind)
            .record(started.elapsed().as_secs_f64());
        if let Err(e) = recorded {
            // The lease runs out and another worker runs the job again; handlers are idempotent.
            tracing::warn!(job = %job.kind, error = %e, "could not record a job's outcome");
        }
        if job.lock_key.is_some() {
            // Another job may have been waiting for this job's key.
            self.queue.wake();
        }
    }

    /// A job stopped at shutdown goes back to the queue, claimable by another worker at once.
    async fn hand_back(&self, job: &ClaimedJob) {
        metrics::counter!("reflector_jobs_finished_total", "kind" => job.kind.clone(), "outcome" => "handed_back")
            .increment(1);
        match self
            .queue
            .store
            .release_job(job, self.queue.clock.now())
            .await
        {
            Ok(_) => tracing::info!(job = %job.kind, id = %job.id, "job handed back at shutdown"),
            // Its lease runs out and another worker takes it over then.
            Err(e) => {
                tracing::warn!(job = %job.kind, error = %e, "could not hand a job back at shutdown")
            }
        }
    }

    /// Renews the job's lease until it is lost or cannot be renewed in time; completes only
    /// then (and the job must stop: another worker may take it over).
    async fn heartbeat(&self, job: &ClaimedJob, claimed_at: Instant) -> JobError {
        let lease = self.queue.settings.lease;
        let every = (lease / 4).max(Duration::from_millis(50));
        // The lease was set from before the claim; every renewal from before its call.
        let mut renewed = claimed_at;
        loop {
            let give_up = renewed + skew_tolerance(lease);
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = tokio::time::sleep_until(give_up.into()) => return unrenewed(lease),
            }
            let attempt = Instant::now();
            let until = self.lease_until();
            match tokio::time::timeout_at(
                give_up.into(),
                self.queue.store.heartbeat_job(job, until),
            )
            .await
            {
                Ok(Ok(true)) => renewed = attempt,
                Ok(Ok(false)) => return JobError::Retry("lost the job's lease".into()),
                Ok(Err(e)) => {
                    tracing::warn!(job = %job.kind, error = %e, "could not renew a job's lease")
                }
                Err(_) => return unrenewed(lease),
            }
        }
    }
}

fn unrenewed(lease: Duration) -> JobError {
    tracing::warn!(
        "a job's lease could not be renewed for {} s: stopped before it runs out",
        skew_tolerance(lease).as_secs_f64()
    );
    JobError::Retry(format!(
        "stopped: its lease could not be renewed for {} s (is the database reachable?)",
        skew_tolerance(lease).as_secs_f64()
    ))
}

/// Completes when `flag` turns true (never, if its sender is gone while false).
async fn wait_for(flag: &mut watch::Receiver<bool>) {
    if flag.wait_for(|set| *set).await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_jobs_back_off_exponentially_up_to_five_minutes() {
        let waits: Vec<i64> = (1..=9).map(|a| retry_delay(a).num_seconds()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
    }
}
