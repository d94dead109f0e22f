//! The job runner: claims jobs from the queue, runs them with a heartbeat that keeps their
//! lease, and records the outcome. Any number of runners, in any number of processes, share one
//! queue; a job whose runner died is taken over when its lease runs out.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reflector_store::ClaimedJob;
use tokio::sync::{Semaphore, watch};

use crate::{Handler, JobError, Outcome, Queue};

/// Waits before the next attempt of a failed job: 5 s doubling, at most 5 min.
fn retry_delay(attempts: i64) -> chrono::Duration {
    let exponent = u32::try_from(attempts.clamp(1, 7) - 1).unwrap_or(0);
    chrono::Duration::seconds(5 * 2_i64.pow(exponent)).min(chrono::Duration::minutes(5))
}

pub struct Runner<H: Handler> {
    queue: Queue,
    handler: Arc<H>,
    worker_id: String,
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

    /// Claims and runs jobs until `shutdown` turns true, then lets running jobs finish.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(this.queue.settings.concurrency));
        tracing::info!(worker = %this.worker_id, concurrency = this.queue.settings.concurrency, "job runner started");
        loop {
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
                    tokio::spawn(async move {
                        runner.execute(job).await;
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
        // Graceful shutdown: wait for the jobs in flight.
        let all = u32::try_from(this.queue.settings.concurrency).unwrap_or(u32::MAX);
        let _ = slots.acquire_many(all).await;
        tracing::info!(worker = %this.worker_id, "job runner stopped");
    }

    /// Runs every job that is due now, one at a time, until none is left (tests and tools).
    /// Returns how many ran.
    pub async fn run_until_idle(&self) -> usize {
        let mut ran = 0;
        while let Ok(Some(job)) = self
            .queue
            .store
            .claim_job(&self.worker_id, self.queue.clock.now(), self.lease_until())
            .await
        {
            self.execute(job).await;
            ran += 1;
        }
        ran
    }

    /// Runs one claimed job, keeping its lease alive, and records the result.
    async fn execute(&self, job: ClaimedJob) {
        let parsed = self.handler.decode(&job.payload);
        let work = parsed.as_ref().ok();
        let result = match &parsed {
            Err(e) => Err(JobError::Permanent(format!("unreadable job payload: {e}"))),
            Ok(_) if job.attempts > job.max_attempts => Err(JobError::Permanent(format!(
                "gave up after {} attempts",
                job.max_attempts
            ))),
            Ok(work) => {
                tokio::select! {
                    result = self.handler.run(work) => result,
                    lost = self.heartbeat(&job) => Err(lost),
                }
            }
        };
        let now = self.queue.clock.now();
        let recorded = match result {
            Ok(Outcome::Done) => self.queue.store.complete_job(&job, now).await,
            Ok(Outcome::RunAgainAt(at)) => self.queue.store.reschedule_job(&job, at).await,
            Err(JobError::Retry(error)) if job.attempts < job.max_attempts => {
                tracing::warn!(job = %job.kind, attempt = job.attempts, %error, "job failed; will retry");
                self.queue
                    .store
                    .fail_job(&job, &error, now, Some(now + retry_delay(job.attempts)))
                    .await
                    .map(drop)
            }
            Err(e) => {
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
        if let Err(e) = recorded {
            // The lease runs out and another worker runs the job again; handlers are idempotent.
            tracing::warn!(job = %job.kind, error = %e, "could not record a job's outcome");
        }
        if job.lock_key.is_some() {
            // Another job may have been waiting for this job's key.
            self.queue.wake();
        }
    }

    /// Renews the job's lease until it is lost; completes only when it is (then the job must
    /// stop: another worker may take it over).
    async fn heartbeat(&self, job: &ClaimedJob) -> JobError {
        let every = (self.queue.settings.lease / 3).max(Duration::from_millis(100));
        loop {
            tokio::time::sleep(every).await;
            match self
                .queue
                .store
                .heartbeat_job(job, self.lease_until())
                .await
            {
                Ok(true) => {}
                Ok(false) => return JobError::Retry("lost the job's lease".into()),
                Err(e) => tracing::warn!(error = %e, "could not renew a job's lease"),
            }
        }
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
