//! The application's background jobs on the generic queue: their kinds ([`Job`]) and what each
//! does ([`Jobs`], the queue's handler), plus the periodic tasks the scheduler enqueues.

mod handlers;
mod kinds;

use std::sync::Arc;
use std::time::Duration;

use reflector_queue::{Handler, JobError, Outcome, PeriodicTask, Runner, Scheduler};

pub(crate) use handlers::PRESENCE_CHECK_DELAY;
pub use kinds::{Job, PAYLOAD_VERSION};

use crate::App;

/// The queue's handler for the application's jobs.
pub struct Jobs(pub Arc<App>);

impl Handler for Jobs {
    type Job = Job;

    fn decode(&self, payload: &str) -> Result<Job, String> {
        Job::decode(payload)
    }

    async fn run(&self, job: &Job) -> Result<Outcome, JobError> {
        Ok(handlers::run(&self.0, job).await?)
    }

    fn time_limit(&self, job: &Job) -> Duration {
        job.time_limit()
    }

    async fn gave_up(&self, job: &Job, error: &str) -> Result<(), JobError> {
        Ok(handlers::gave_up(&self.0, job, error).await?)
    }
}

impl App {
    /// A job runner for this application (any number may run, in any number of processes).
    pub fn runner(self: &Arc<Self>) -> Runner<Jobs> {
        Runner::new(self.queue.clone(), Arc::new(Jobs(self.clone())))
    }

    /// The periodic scheduler of SPEC §6 and §7 (one leads among all processes).
    pub fn scheduler(&self) -> Scheduler {
        let s = &self.settings;
        let task = |name: &str, every, job: Job| PeriodicTask {
            name: name.to_owned(),
            every,
            job: job.to_new(self.clock.now()),
        };
        let mut tasks = vec![
            task("lifecycle", s.lifecycle_interval, Job::LifecycleSweep),
            task("presence", s.presence_interval, Job::PresenceSweep),
            task("prune_jobs", Duration::from_secs(3600), Job::PruneJobs),
            task("ics", s.ics_scheduler_interval, Job::SyncCalendars),
            task(
                "calendar_meetings",
                s.calendar_precreate_interval,
                Job::PrepareCalendarMeetings,
            ),
        ];
        // Recording announcements that webhooks may miss: each provider's own listing and
        // bucket notification queue, at the interval the provider's settings give.
        for name in self.platforms.known() {
            let Ok(platform) = self.platforms.get(name) else {
                continue;
            };
            let platform_name = (*name).to_owned();
            if let Some(every) = platform.recording_poll_interval() {
                tasks.push(task(
                    &format!("recording_poll:{name}"),
                    every,
                    Job::PollRecordings {
                        platform: platform_name.clone(),
                    },
                ));
            }
            if let Some(queue) = platform.recording_queue() {
                tasks.push(task(
                    &format!("recording_queue:{name}"),
                    queue.every,
                    Job::PollRecordingQueue {
                        platform: platform_name,
                    },
                ));
            }
        }
        Scheduler::new(self.queue.clone(), tasks)
    }
}
