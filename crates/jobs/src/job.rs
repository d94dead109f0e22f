//! The kinds of background work, as stored in the queue.

use chrono::{DateTime, Utc};
use reflector_platforms::EventKind;
use reflector_store::NewJob;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Apply a verified provider webhook (stored in the inbox) to our meetings.
    ProcessWebhook {
        inbox_id: String,
        provider: String,
        event: EventKind,
    },
    /// Compare a meeting's participant sessions with the provider's presence API.
    ReconcilePresence { meeting_id: String },
    /// End, extend or keep one meeting.
    CheckMeeting { meeting_id: String },
    /// Delete or expire an ended meeting's provider room.
    ExpireRoom { meeting_id: String },
    /// Deliver (one attempt of) an outgoing room webhook.
    DeliverWebhook { event_id: String },
    /// Periodic: enqueue `CheckMeeting` for every active meeting.
    LifecycleSweep,
    /// Periodic: enqueue `ReconcilePresence` for every active meeting.
    PresenceSweep,
    /// Periodic: delete finished jobs older than a week.
    PruneJobs,
}

impl Job {
    pub fn kind(&self) -> &'static str {
        match self {
            Job::ProcessWebhook { .. } => "process_webhook",
            Job::ReconcilePresence { .. } => "reconcile_presence",
            Job::CheckMeeting { .. } => "check_meeting",
            Job::ExpireRoom { .. } => "expire_room",
            Job::DeliverWebhook { .. } => "deliver_webhook",
            Job::LifecycleSweep => "lifecycle_sweep",
            Job::PresenceSweep => "presence_sweep",
            Job::PruneJobs => "prune_jobs",
        }
    }

    /// Jobs about one meeting share its key, so they never run at the same time.
    fn lock_key(&self) -> Option<String> {
        match self {
            Job::ReconcilePresence { meeting_id }
            | Job::CheckMeeting { meeting_id }
            | Job::ExpireRoom { meeting_id } => Some(meeting_key(meeting_id)),
            _ => None,
        }
    }

    /// Work that is already queued need not be queued again.
    fn dedupe_key(&self) -> Option<String> {
        match self {
            Job::ReconcilePresence { meeting_id } => Some(format!("presence:{meeting_id}")),
            Job::CheckMeeting { meeting_id } => Some(format!("check:{meeting_id}")),
            Job::ExpireRoom { meeting_id } => Some(format!("expire:{meeting_id}")),
            Job::LifecycleSweep | Job::PresenceSweep | Job::PruneJobs => {
                Some(self.kind().to_owned())
            }
            Job::ProcessWebhook { .. } | Job::DeliverWebhook { .. } => None,
        }
    }

    fn max_attempts(&self) -> i64 {
        match self {
            // A webhook that cannot be applied after this is recorded as failed in the inbox.
            Job::ProcessWebhook { .. } | Job::DeliverWebhook { .. } => 10,
            _ => 5,
        }
    }

    /// The queue row for this job, runnable from `run_at`.
    pub fn to_new(&self, run_at: DateTime<Utc>) -> NewJob {
        NewJob {
            kind: self.kind().to_owned(),
            payload: serde_json::to_string(self).unwrap_or_default(),
            lock_key: self.lock_key(),
            dedupe_key: self.dedupe_key(),
            run_at,
            max_attempts: self.max_attempts(),
        }
    }

    /// As [`Job::to_new`], serialised with the job for `meeting_id` (a webhook whose meeting
    /// was known when it arrived).
    pub fn to_new_for_meeting(&self, run_at: DateTime<Utc>, meeting_id: Option<&str>) -> NewJob {
        let mut job = self.to_new(run_at);
        if job.lock_key.is_none() {
            job.lock_key = meeting_id.map(meeting_key);
        }
        job
    }
}

fn meeting_key(meeting_id: &str) -> String {
    format!("meeting:{meeting_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_round_trip_through_their_stored_form() {
        let job = Job::CheckMeeting {
            meeting_id: "m1".into(),
        };
        let stored = job.to_new(Utc::now());
        assert_eq!(stored.kind, "check_meeting");
        assert_eq!(stored.lock_key.as_deref(), Some("meeting:m1"));
        assert_eq!(stored.dedupe_key.as_deref(), Some("check:m1"));
        let back: Job = serde_json::from_str(&stored.payload).unwrap();
        assert_eq!(back, job);
        let webhook = Job::ProcessWebhook {
            inbox_id: "i".into(),
            provider: "daily".into(),
            event: EventKind::Other,
        };
        assert_eq!(
            webhook
                .to_new_for_meeting(Utc::now(), Some("m2"))
                .lock_key
                .as_deref(),
            Some("meeting:m2")
        );
    }
}
