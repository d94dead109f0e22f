//! The periodic scheduler. Every process may run one; a lease makes exactly one of them the
//! active scheduler, and each period of each task is claimed by compare-and-set, so even two
//! schedulers at once could not enqueue a period twice.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::context::JobContext;
use crate::job::Job;

const LEADER_LEASE: &str = "scheduler";
const TICK: Duration = Duration::from_secs(1);

pub struct Scheduler {
    ctx: Arc<JobContext>,
    holder: String,
}

impl Scheduler {
    pub fn new(ctx: Arc<JobContext>) -> Self {
        Self {
            ctx,
            holder: format!("scheduler-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    fn tasks(&self) -> [(&'static str, Duration, Job); 3] {
        let s = &self.ctx.settings;
        [
            ("lifecycle", s.lifecycle_interval, Job::LifecycleSweep),
            ("presence", s.presence_interval, Job::PresenceSweep),
            ("prune_jobs", Duration::from_secs(3600), Job::PruneJobs),
        ]
    }

    /// One round: take or keep the leadership, then enqueue the tasks that are due. Returns how
    /// many were enqueued; none when another scheduler leads.
    pub async fn tick(&self) -> reflector_store::Result<usize> {
        let now = self.ctx.clock.now();
        let lease = now + chrono::Duration::seconds(15);
        if !self
            .ctx
            .store
            .try_lease(LEADER_LEASE, &self.holder, now, lease)
            .await?
        {
            return Ok(0);
        }
        let mut enqueued = 0;
        for (name, every, job) in self.tasks() {
            let next =
                now + chrono::Duration::from_std(every).unwrap_or(chrono::Duration::seconds(60));
            if self.ctx.store.claim_periodic(name, now, next).await?
                && self.ctx.store.enqueue(&job.to_new(now), now).await?
            {
                enqueued += 1;
            }
        }
        if enqueued > 0 {
            self.ctx.wake.notify_one();
        }
        Ok(enqueued)
    }

    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            if let Err(e) = self.tick().await {
                tracing::warn!(error = %e, "scheduler tick failed");
            }
            tokio::select! {
                () = tokio::time::sleep(TICK) => {}
                _ = shutdown.changed() => {}
            }
        }
        let _ = self
            .ctx
            .store
            .release_lease(LEADER_LEASE, &self.holder)
            .await;
    }
}
