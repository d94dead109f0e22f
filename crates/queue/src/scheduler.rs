//! The periodic scheduler. Every process may run one; a lease makes exactly one of them the
//! active scheduler, and each period of each task is claimed by compare-and-set, so even two
//! schedulers at once could not enqueue a period twice.

use std::time::Duration;

use reflector_store::NewJob;
use tokio::sync::watch;

use crate::Queue;

const LEADER_LEASE: &str = "scheduler";
const TICK: Duration = Duration::from_secs(1);

/// A job the scheduler enqueues every `every`.
#[derive(Debug, Clone)]
pub struct PeriodicTask {
    /// Unique among the tasks; each period of it is claimed once under this name.
    pub name: String,
    pub every: Duration,
    /// Enqueued as given, with `run_at` set to the period's start. Give it a dedupe key, so a
    /// period that is still queued is not queued twice.
    pub job: NewJob,
}

pub struct Scheduler {
    queue: Queue,
    tasks: Vec<PeriodicTask>,
    holder: String,
}

impl Scheduler {
    pub fn new(queue: Queue, tasks: Vec<PeriodicTask>) -> Self {
        Self {
            queue,
            tasks,
            holder: format!("scheduler-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// One round: take or keep the leadership, then enqueue the tasks that are due. Returns how
    /// many were enqueued; none when another scheduler leads.
    pub async fn tick(&self) -> reflector_store::Result<usize> {
        let store = &self.queue.store;
        let now = self.queue.clock.now();
        let lease = now + chrono::Duration::seconds(15);
        if !store
            .try_lease(LEADER_LEASE, &self.holder, now, lease)
            .await?
        {
            return Ok(0);
        }
        let mut enqueued = 0;
        for task in &self.tasks {
            let next = now
                + chrono::Duration::from_std(task.every).unwrap_or(chrono::Duration::seconds(60));
            let job = NewJob {
                run_at: now,
                ..task.job.clone()
            };
            if store.claim_periodic(&task.name, now, next).await?
                && store.enqueue(&job, now).await?
            {
                enqueued += 1;
            }
        }
        if enqueued > 0 {
            self.queue.wake();
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
            .queue
            .store
            .release_lease(LEADER_LEASE, &self.holder)
            .await;
    }
}
