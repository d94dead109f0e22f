//! The kinds of background work, as stored in the queue.
//!
//! A queued job outlives the process that queued it (a deploy happens while jobs wait), so its
//! stored form is a contract: `{"v": 1, "kind": "…", …fields}`. The test below pins that form for
//! every kind, including the provider-neutral event a webhook job carries; a change that would
//! make queued jobs unreadable fails it. A new incompatible form gets a new `v`, and
//! [`Job::decode`] keeps reading the old one.

use chrono::{DateTime, Utc};
use reflector_platforms::EventKind;
use reflector_store::NewJob;
use serde::{Deserialize, Serialize};

/// The version of the stored form written by [`Job::to_new`]. Payloads without `v` were written
/// before it existed, in the same form as version 1.
pub const PAYLOAD_VERSION: u64 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Apply a verified provider webhook (stored in the inbox) to our meetings.
    ProcessWebhook {
        inbox_id: String,
        provider: String,
        event: EventKind,
    },
    /// Apply every inbox event waiting for this meeting, in batches (each one transaction).
    ApplyMeetingEvents { meeting_id: String },
    /// Compare a meeting's participant sessions with the provider's presence API.
    ReconcilePresence { meeting_id: String },
    /// End, extend or keep one meeting.
    CheckMeeting { meeting_id: String },
    /// Delete or expire an ended meeting's provider room.
    ExpireRoom { meeting_id: String },
    /// Deliver (one attempt of) an outgoing room webhook.
    DeliverWebhook { event_id: String },
    /// Download an announced recording into our storage.
    IngestRecording { recording_id: String },
    /// Run the transcript pipeline (SPEC §9.2) on one transcript.
    ProcessTranscript { transcript_id: String },
    /// Periodic: announce a provider's recent finished recordings (missed webhooks).
    PollRecordings { platform: String },
    /// Periodic: read every message on a provider bucket's notification queue.
    PollRecordingQueue { platform: String },
    /// Periodic: enqueue `CheckMeeting` for every active meeting.
    LifecycleSweep,
    /// Periodic: enqueue `ReconcilePresence` for every active meeting.
    PresenceSweep,
    /// Periodic: delete finished jobs older than a week.
    PruneJobs,
    /// Periodic: enqueue `SyncRoomCalendar` for every room whose feed is due.
    SyncCalendars,
    /// Fetch one room's calendar feed and apply it to its events.
    SyncRoomCalendar { room_id: String },
    /// Periodic: make the meetings of calendar events that start soon.
    PrepareCalendarMeetings,
}

impl Job {
    pub fn kind(&self) -> &'static str {
        match self {
            Job::ProcessWebhook { .. } => "process_webhook",
            Job::ApplyMeetingEvents { .. } => "apply_meeting_events",
            Job::ReconcilePresence { .. } => "reconcile_presence",
            Job::CheckMeeting { .. } => "check_meeting",
            Job::ExpireRoom { .. } => "expire_room",
            Job::DeliverWebhook { .. } => "deliver_webhook",
            Job::IngestRecording { .. } => "ingest_recording",
            Job::ProcessTranscript { .. } => "process_transcript",
            Job::PollRecordings { .. } => "poll_recordings",
            Job::PollRecordingQueue { .. } => "poll_recording_queue",
            Job::LifecycleSweep => "lifecycle_sweep",
            Job::PresenceSweep => "presence_sweep",
            Job::PruneJobs => "prune_jobs",
            Job::SyncCalendars => "sync_calendars",
            Job::SyncRoomCalendar { .. } => "sync_room_calendar",
            Job::PrepareCalendarMeetings => "prepare_calendar_meetings",
        }
    }

    /// The longest one run may take before it is stopped and retried. Above the worst case of
    /// the work's own timeouts: a provider call with its retries takes at most about a minute
    /// (4 attempts of 10 s, waits of up to 5 s), an outgoing delivery 30 s.
    pub fn time_limit(&self) -> std::time::Duration {
        let seconds = match self {
            Job::ProcessWebhook { .. } | Job::DeliverWebhook { .. } => 60,
            // A batch of up to `WEBHOOK_APPLY_BATCH` events is one transaction.
            Job::ApplyMeetingEvents { .. } => 120,
            // Listing sessions may page through several provider calls.
            Job::ReconcilePresence { .. } | Job::CheckMeeting { .. } | Job::ExpireRoom { .. } => {
                180
            }
            Job::LifecycleSweep | Job::PresenceSweep | Job::SyncCalendars => 120,
            // A feed fetch has 30 s; creating an event's meeting is a provider call with retries.
            Job::SyncRoomCalendar { .. } | Job::PrepareCalendarMeetings => 300,
            Job::PollRecordings { .. } | Job::PollRecordingQueue { .. } | Job::PruneJobs => 600,
            // A download streams a recording of any size (1 GiB took 7 s here; slow links more).
            Job::IngestRecording { .. } => 3600,
            // Transcription of a long multitrack meeting through a remote backend.
            Job::ProcessTranscript { .. } => 4 * 3600,
        };
        std::time::Duration::from_secs(seconds)
    }

    /// Jobs about one meeting share its key, so they never run at the same time. The meeting's
    /// apply job has a key of its own: it must not wait while another of them waits on the
    /// provider (a presence or lifecycle check can take the provider's whole timeout), and its
    /// writes are safe beside theirs: session changes carry their times and may come in any
    /// order, and each count of the sessions locks the meeting's row (the inbox writer, which
    /// applies joins and leaves as it stores them, never waited for these jobs either).
    fn lock_key(&self) -> Option<String> {
        match self {
            Job::ApplyMeetingEvents { meeting_id } => Some(format!("apply:{meeting_id}")),
            Job::ReconcilePresence { meeting_id }
            | Job::CheckMeeting { meeting_id }
            | Job::ExpireRoom { meeting_id } => Some(meeting_key(meeting_id)),
            // One download of a recording at a time (they share its staging files).
            Job::IngestRecording { recording_id } => Some(format!("recording:{recording_id}")),
            // One run of a transcript at a time (they share its temporary audio).
            Job::ProcessTranscript { transcript_id } => Some(format!("transcript:{transcript_id}")),
            _ => None,
        }
    }

    /// Work that is already queued need not be queued again.
    fn dedupe_key(&self) -> Option<String> {
        match self {
            Job::ApplyMeetingEvents { meeting_id } => Some(format!("apply:{meeting_id}")),
            Job::ReconcilePresence { meeting_id } => Some(format!("presence:{meeting_id}")),
            Job::CheckMeeting { meeting_id } => Some(format!("check:{meeting_id}")),
            Job::ExpireRoom { meeting_id } => Some(format!("expire:{meeting_id}")),
            Job::IngestRecording { recording_id } => Some(format!("ingest:{recording_id}")),
            Job::ProcessTranscript { transcript_id } => Some(format!("process:{transcript_id}")),
            Job::PollRecordings { platform } => Some(format!("poll_recordings:{platform}")),
            Job::PollRecordingQueue { platform } => {
                Some(format!("poll_recording_queue:{platform}"))
            }
            Job::SyncRoomCalendar { room_id } => Some(format!("ics:{room_id}")),
            Job::LifecycleSweep
            | Job::PresenceSweep
            | Job::PruneJobs
            | Job::SyncCalendars
            | Job::PrepareCalendarMeetings => Some(self.kind().to_owned()),
            Job::ProcessWebhook { .. } | Job::DeliverWebhook { .. } => None,
        }
    }

    fn max_attempts(&self) -> i64 {
        match self {
            // A webhook that cannot be applied after this is recorded as failed in the inbox.
            Job::ProcessWebhook { .. }
            | Job::ApplyMeetingEvents { .. }
            | Job::DeliverWebhook { .. }
            | Job::IngestRecording { .. } => 10,
            _ => 5,
        }
    }

    /// The stored form of this job (see the module's documentation), written straight to text:
    /// every webhook's job is encoded while its request waits, and going through a
    /// `serde_json::Value` cost as much as the rest of the encoding.
    pub fn encode(&self) -> String {
        #[derive(Serialize)]
        struct Stored<'a> {
            v: u64,
            #[serde(flatten)]
            job: &'a Job,
        }
        let stored = Stored {
            v: PAYLOAD_VERSION,
            job: self,
        };
        // A job is strings, numbers and times: it always serialises.
        serde_json::to_string(&stored).unwrap_or_default()
    }

    /// The job behind a stored payload, of this or an earlier version.
    pub fn decode(payload: &str) -> Result<Job, String> {
        /// Only `v` is read first (the rest is skipped, not built).
        #[derive(Deserialize)]
        struct Version {
            v: Option<serde_json::Value>,
        }
        let version: Version = serde_json::from_str(payload).map_err(|e| e.to_string())?;
        match version.v.as_ref().map(serde_json::Value::as_u64) {
            None | Some(Some(PAYLOAD_VERSION)) => {
                serde_json::from_str(payload).map_err(|e| e.to_string())
            }
            Some(v) => Err(format!(
                "payload version {} is not one this Reflector reads (it reads {PAYLOAD_VERSION})",
                v.map_or_else(|| "(not a number)".to_owned(), |v| v.to_string())
            )),
        }
    }

    /// The queue row for this job, runnable from `run_at`.
    pub fn to_new(&self, run_at: DateTime<Utc>) -> NewJob {
        NewJob {
            kind: self.kind().to_owned(),
            payload: self.encode(),
            lock_key: self.lock_key(),
            dedupe_key: self.dedupe_key(),
            // Events that arrive while the meeting's apply job runs need the next one.
            dedupe_until_claimed: matches!(self, Job::ApplyMeetingEvents { .. }),
            run_at,
            max_attempts: self.max_attempts(),
        }
    }
}

fn meeting_key(meeting_id: &str) -> String {
    format!("meeting:{meeting_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use reflector_platforms::{MeetingKey, Participant};
    use serde_json::json;

    /// The stored form of every kind, as version 1 wrote it. If this fails, queued jobs written
    /// by the previous release would no longer be read: add a new version instead.
    #[test]
    fn stored_forms_stay_readable() {
        let at = "2026-01-02T03:04:05Z".parse::<DateTime<Utc>>().unwrap();
        let participant = Participant {
            meeting: MeetingKey::RoomName("r-1".into()),
            session_id: "s".into(),
            user_id: Some("u".into()),
            user_name: None,
            at,
            num_clients: Some(2),
        };
        let cases = [
            (
                Job::ProcessWebhook {
                    inbox_id: "i".into(),
                    provider: "daily".into(),
                    event: EventKind::ParticipantJoined(participant),
                },
                json!({"v": 1, "kind": "process_webhook", "inbox_id": "i", "provider": "daily",
                    "event": {"ParticipantJoined": {"meeting": {"RoomName": "r-1"}, "session_id": "s",
                    "user_id": "u", "user_name": null, "at": "2026-01-02T03:04:05Z", "num_clients": 2}}}),
            ),
            (
                Job::ProcessWebhook {
                    inbox_id: "i".into(),
                    provider: "whereby".into(),
                    event: EventKind::MeetingEnded {
                        meeting: MeetingKey::PlatformMeetingId("m".into()),
                        at,
                    },
                },
                json!({"v": 1, "kind": "process_webhook", "inbox_id": "i", "provider": "whereby",
                    "event": {"MeetingEnded": {"meeting": {"PlatformMeetingId": "m"}, "at": "2026-01-02T03:04:05Z"}}}),
            ),
            (
                Job::ApplyMeetingEvents {
                    meeting_id: "m".into(),
                },
                json!({"v": 1, "kind": "apply_meeting_events", "meeting_id": "m"}),
            ),
            (
                Job::ReconcilePresence {
                    meeting_id: "m".into(),
                },
                json!({"v": 1, "kind": "reconcile_presence", "meeting_id": "m"}),
            ),
            (
                Job::CheckMeeting {
                    meeting_id: "m".into(),
                },
                json!({"v": 1, "kind": "check_meeting", "meeting_id": "m"}),
            ),
            (
                Job::ExpireRoom {
                    meeting_id: "m".into(),
                },
                json!({"v": 1, "kind": "expire_room", "meeting_id": "m"}),
            ),
            (
                Job::DeliverWebhook {
                    event_id: "e".into(),
                },
                json!({"v": 1, "kind": "deliver_webhook", "event_id": "e"}),
            ),
            (
                Job::ProcessWebhook {
                    inbox_id: "i".into(),
                    provider: "daily".into(),
                    event: EventKind::RecordingReady(reflector_platforms::RecordingReady {
                        meeting: MeetingKey::RoomName("r-1".into()),
                        recording_id: "rec".into(),
                        multitrack: true,
                        started_at: Some(at),
                        duration_seconds: None,
                        keys: vec!["k-cam-audio-1".into()],
                    }),
                },
                json!({"v": 1, "kind": "process_webhook", "inbox_id": "i", "provider": "daily",
                    "event": {"RecordingReady": {"meeting": {"RoomName": "r-1"}, "recording_id": "rec",
                    "multitrack": true, "started_at": "2026-01-02T03:04:05Z", "duration_seconds": null,
                    "keys": ["k-cam-audio-1"]}}}),
            ),
            (
                Job::IngestRecording {
                    recording_id: "r".into(),
                },
                json!({"v": 1, "kind": "ingest_recording", "recording_id": "r"}),
            ),
            (
                Job::ProcessTranscript {
                    transcript_id: "t".into(),
                },
                json!({"v": 1, "kind": "process_transcript", "transcript_id": "t"}),
            ),
            (
                Job::PollRecordings {
                    platform: "daily".into(),
                },
                json!({"v": 1, "kind": "poll_recordings", "platform": "daily"}),
            ),
            (
                Job::PollRecordingQueue {
                    platform: "whereby".into(),
                },
                json!({"v": 1, "kind": "poll_recording_queue", "platform": "whereby"}),
            ),
            (
                Job::LifecycleSweep,
                json!({"v": 1, "kind": "lifecycle_sweep"}),
            ),
            (
                Job::PresenceSweep,
                json!({"v": 1, "kind": "presence_sweep"}),
            ),
            (Job::PruneJobs, json!({"v": 1, "kind": "prune_jobs"})),
            (
                Job::SyncCalendars,
                json!({"v": 1, "kind": "sync_calendars"}),
            ),
            (
                Job::SyncRoomCalendar {
                    room_id: "r".into(),
                },
                json!({"v": 1, "kind": "sync_room_calendar", "room_id": "r"}),
            ),
            (
                Job::PrepareCalendarMeetings,
                json!({"v": 1, "kind": "prepare_calendar_meetings"}),
            ),
        ];
        for (job, stored) in cases {
            let written: serde_json::Value = serde_json::from_str(&job.encode()).unwrap();
            assert_eq!(written, stored, "{job:?}");
            assert_eq!(Job::decode(&stored.to_string()).unwrap(), job);
        }
    }

    #[test]
    fn payloads_from_before_versions_and_from_newer_versions() {
        let old = r#"{"kind":"check_meeting","meeting_id":"m"}"#;
        assert_eq!(
            Job::decode(old).unwrap(),
            Job::CheckMeeting {
                meeting_id: "m".into()
            }
        );
        let newer = r#"{"v":2,"kind":"check_meeting","meeting":"m"}"#;
        let err = Job::decode(newer).unwrap_err();
        assert!(err.contains("payload version 2"), "{err}");
    }

    #[test]
    fn jobs_round_trip_through_their_stored_form() {
        let job = Job::CheckMeeting {
            meeting_id: "m1".into(),
        };
        let stored = job.to_new(Utc::now());
        assert_eq!(stored.kind, "check_meeting");
        assert_eq!(stored.lock_key.as_deref(), Some("meeting:m1"));
        assert_eq!(stored.dedupe_key.as_deref(), Some("check:m1"));
        assert!(!stored.dedupe_until_claimed);
        let back = Job::decode(&stored.payload).unwrap();
        assert_eq!(back, job);
        let apply = Job::ApplyMeetingEvents {
            meeting_id: "m1".into(),
        }
        .to_new(Utc::now());
        assert_eq!(
            (apply.lock_key.as_deref(), apply.dedupe_key.as_deref()),
            (Some("apply:m1"), Some("apply:m1"))
        );
        assert!(apply.dedupe_until_claimed, "events arriving while it runs");
    }
}
