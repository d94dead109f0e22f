//! What each job does. Every handler is idempotent: a job that runs twice (its worker died after
//! the work but before recording it) changes nothing the second time.

use std::collections::HashSet;

use reflector_core::Meeting;
use reflector_core::lifecycle::{Decision, SessionSpan, decide};
use reflector_platforms::{EventKind, Participant, PlatformError};
use reflector_store::SessionChange;

use reflector_queue::Outcome;
use reflector_store::OutboxStatus;

use crate::ingest::{find_meeting, meeting_key};
use crate::jobs::Job;
use crate::meetings::end_meeting;
use crate::{App, AppResult};
use crate::{calendar, notify, recordings, transcripts};

pub(crate) async fn run(ctx: &App, job: &Job) -> AppResult<Outcome> {
    match job {
        Job::ProcessWebhook {
            inbox_id,
            provider,
            event,
        } => {
            let note = apply_event(ctx, provider, event).await?;
            ctx.store
                .mark_inbox_processed(inbox_id, ctx.clock.now(), note.as_deref())
                .await?;
            Ok(Outcome::Done)
        }
        Job::ApplyMeetingEvents { meeting_id } => apply_meeting_events(ctx, meeting_id).await,
        Job::ReconcilePresence { meeting_id } => reconcile_presence(ctx, meeting_id).await,
        Job::CheckMeeting { meeting_id } => check_meeting(ctx, meeting_id).await,
        Job::ExpireRoom { meeting_id } => expire_room(ctx, meeting_id).await,
        Job::DeliverWebhook { event_id } => notify::deliver(ctx, event_id).await,
        Job::IngestRecording { recording_id } => recordings::ingest(ctx, recording_id).await,
        Job::ProcessTranscript { transcript_id } => transcripts::process(ctx, transcript_id).await,
        Job::PollRecordings { platform } => recordings::poll_provider(ctx, platform).await,
        Job::PollRecordingQueue { platform } => recordings::poll_queue(ctx, platform).await,
        Job::LifecycleSweep => sweep(ctx, |meeting_id| Job::CheckMeeting { meeting_id }).await,
        Job::PresenceSweep => sweep(ctx, |meeting_id| Job::ReconcilePresence { meeting_id }).await,
        Job::SyncCalendars => {
            for room_id in calendar::due_rooms(ctx).await? {
                ctx.enqueue(Job::SyncRoomCalendar { room_id }).await?;
            }
            Ok(Outcome::Done)
        }
        Job::SyncRoomCalendar { room_id } => {
            // A room deleted or switched off since is nothing to do; a feed that fails is
            // recorded on the room and tried again at its next interval, not as a job retry.
            if let Some(room) = ctx.store.room(room_id).await?
                && calendar::follows_calendar(&room)
            {
                calendar::sync_room(ctx, &room).await?;
            }
            Ok(Outcome::Done)
        }
        Job::PrepareCalendarMeetings => {
            calendar::prepare_meetings(ctx).await?;
            Ok(Outcome::Done)
        }
        Job::PruneJobs => {
            let now = ctx.clock.now();
            let jobs = ctx
                .store
                .prune_jobs(now - chrono::Duration::days(7))
                .await?;
            // Longer than any provider redelivers a webhook, so the inbox still recognises them;
            // verifiers refuse signed deliveries older than this, so a pruned one cannot replay.
            let history = ctx
                .store
                .prune_webhooks(now - reflector_core::webhook::WEBHOOK_INBOX_RETENTION)
                .await?;
            tracing::debug!(jobs, history, "old jobs and webhook history deleted");
            Ok(Outcome::Done)
        }
    }
}

async fn sweep(ctx: &App, job: impl Fn(String) -> Job) -> AppResult<Outcome> {
    for meeting_id in ctx.store.active_meeting_ids().await? {
        ctx.enqueue(job(meeting_id)).await?;
    }
    Ok(Outcome::Done)
}

/// Applies every inbox event waiting for the meeting, up to `apply_batch` at a time, until none
/// waits. A batch's participant events are applied in one transaction together with the
/// meeting's `num_clients` and their inbox marks, so a crash keeps all of a batch or none of it,
/// and the inbox marks make a re-run skip what was applied. Other events are applied one by one,
/// as their own job would.
async fn apply_meeting_events(ctx: &App, meeting_id: &str) -> AppResult<Outcome> {
    let mut participants_changed = false;
    let mut applied_last = 0;
    loop {
        if applied_last >= GATHER_AFTER {
            // A burst: let the next events gather for a moment, so that they are applied in
            // one larger batch rather than in one small one after each commit of the inbox.
            tokio::time::sleep(GATHER_FOR).await;
        }
        let pending = ctx
            .store
            .pending_meeting_events(meeting_id, ctx.settings.apply_batch)
            .await?;
        if pending.is_empty() {
            break;
        }
        applied_last = pending.len();
        let meeting = ctx.store.meeting(meeting_id).await?;
        let decoded: Vec<(&str, Result<Job, String>)> = pending
            .iter()
            .map(|p| {
                let work = p.work.as_deref().ok_or_else(|| "no stored work".to_owned());
                (p.id.as_str(), work.and_then(Job::decode))
            })
            .collect();
        let mut sessions: Vec<(bool, SessionChange<'_>)> = Vec::new();
        let mut applied: Vec<&str> = Vec::new();
        for (id, work) in &decoded {
            let now = ctx.clock.now();
            // A join or leave whose provider sends its own count (Whereby) is applied one by
            // one, by `apply_event`, which follows the newest count; the others together.
            if let (Ok(Job::ProcessWebhook { event, .. }), Some(meeting)) = (work, &meeting)
                && let Some((joined, p)) = event.session_change()
            {
                sessions.push((joined, session_change(&meeting.id, p)));
                applied.push(id);
                continue;
            }
            let note = match work {
                Ok(Job::ProcessWebhook {
                    provider, event, ..
                }) => apply_event(ctx, provider, event).await?,
                Ok(other) => Some(format!("not a webhook's work: {}", other.kind())),
                Err(e) => Some(format!("unreadable stored work: {e}")),
            };
            ctx.store
                .mark_inbox_processed(id, now, note.as_deref())
                .await?;
        }
        if !applied.is_empty() {
            ctx.store
                .apply_session_events(meeting_id, &sessions, &applied, ctx.clock.now())
                .await?;
            participants_changed = true;
        }
    }
    if participants_changed {
        // As for a single participant event (see `apply_event`): one check covers the batch.
        let check = Job::ReconcilePresence {
            meeting_id: meeting_id.to_owned(),
        };
        ctx.enqueue_in(check, PRESENCE_CHECK_DELAY).await?;
    }
    Ok(Outcome::Done)
}

/// After a batch of at least this many events (a burst is arriving), the apply job waits
/// [`GATHER_FOR`] before it takes the next.
const GATHER_AFTER: usize = 16;
const GATHER_FOR: std::time::Duration = std::time::Duration::from_millis(10);

/// The change `p`'s join or leave makes to its session in the meeting `meeting_id`.
fn session_change<'a>(meeting_id: &'a str, p: &'a Participant) -> SessionChange<'a> {
    SessionChange {
        meeting_id,
        platform_session_id: &p.session_id,
        user_id: p.user_id.as_deref(),
        user_name: p.user_name.as_deref(),
        at: p.at,
    }
}

/// Applies a provider event; the returned note (e.g. "unknown meeting") is kept in the inbox.
async fn apply_event(ctx: &App, provider: &str, event: &EventKind) -> AppResult<Option<String>> {
    let Some(key) = meeting_key(event) else {
        return Ok(Some("no action for this event type".into()));
    };
    let Some(meeting) = find_meeting(&ctx.store, provider, key).await? else {
        return Ok(Some("unknown meeting".into()));
    };
    match event {
        EventKind::ParticipantJoined(p) | EventKind::ParticipantLeft(p) => {
            let change = session_change(&meeting.id, p);
            if matches!(event, EventKind::ParticipantJoined(_)) {
                ctx.store.session_joined(&change).await?;
            } else {
                ctx.store.session_left(&change).await?;
            }
            // Sessions stay idempotent either way. A provider that sends its own count (Whereby's
            // `numClients`) is followed (SPEC §6), the newest event by its own time winning; for
            // the others the count is the open sessions.
            match p.num_clients {
                Some(count) => {
                    ctx.store
                        .set_provider_num_clients(&meeting.id, count, p.at)
                        .await?;
                }
                None => {
                    ctx.store.refresh_num_clients(&meeting.id).await?;
                }
            }
            // Webhooks can be missed or late: check against the provider's presence soon. Not at
            // once: presence lags behind the events anyway, and one check then covers a burst of
            // events (while it is queued no other is), so the meeting's next events do not wait
            // behind provider calls, and the provider is not asked once per event.
            let check = Job::ReconcilePresence {
                meeting_id: meeting.id.clone(),
            };
            ctx.enqueue_in(check, PRESENCE_CHECK_DELAY).await?;
            Ok(None)
        }
        EventKind::MeetingStarted { .. } => {
            notify::meeting_started(ctx, &meeting).await?;
            Ok(None)
        }
        EventKind::MeetingEnded { .. } => {
            // The provider's room emptied; whether our meeting is over is the lifecycle's call.
            ctx.enqueue(Job::CheckMeeting {
                meeting_id: meeting.id.clone(),
            })
            .await?;
            Ok(None)
        }
        EventKind::RecordingReady(ready) => {
            Ok(recordings::announce(ctx, provider, ready).await?.note())
        }
        EventKind::RecordingError {
            recording_id,
            error,
            ..
        } => recordings::provider_error(ctx, provider, recording_id.as_deref(), error).await,
        EventKind::RecordingStarted { .. } | EventKind::Other => Ok(None),
    }
}

/// Presence APIs lag behind joins (Daily: up to about 15 s), so a session this young is not
/// closed for being absent from them.
const PRESENCE_LAG: chrono::Duration = chrono::Duration::seconds(30);

/// How long after a participant event its meeting's presence is checked.
pub(crate) const PRESENCE_CHECK_DELAY: chrono::Duration = chrono::Duration::seconds(5);

/// Corrects the meeting's participant sessions to what the provider says is present now.
async fn reconcile_presence(ctx: &App, meeting_id: &str) -> AppResult<Outcome> {
    let Some(meeting) = active_meeting(ctx, meeting_id).await? else {
        return Ok(Outcome::Done);
    };
    let platform = ctx.platforms.get(meeting.platform.as_str())?;
    let present = match platform.presence(&(&meeting).into()).await {
        Ok(present) => present,
        // Whereby has no presence API; its webhooks and sessions API are the truth there.
        Err(PlatformError::Unsupported { .. }) => return Ok(Outcome::Done),
        Err(e) => return Err(e.into()),
    };
    let now = ctx.clock.now();
    let open = ctx.store.open_sessions(&meeting.id).await?;
    let present_ids: HashSet<&str> = present.iter().map(|p| p.session_id.as_str()).collect();
    let open_ids: HashSet<&str> = open.iter().map(|(id, _)| id.as_str()).collect();
    // Only what differs is written: a crowded meeting costs a read, not a write per participant.
    for p in present
        .iter()
        .filter(|p| !open_ids.contains(p.session_id.as_str()))
    {
        ctx.store
            .session_joined(&SessionChange {
                meeting_id: &meeting.id,
                platform_session_id: &p.session_id,
                user_id: p.user_id.as_deref(),
                user_name: p.user_name.as_deref(),
                at: p.joined_at,
            })
            .await?;
    }
    for (gone, _) in open.iter().filter(|(id, joined_at)| {
        *joined_at < now - PRESENCE_LAG && !present_ids.contains(id.as_str())
    }) {
        ctx.store.session_absent(&meeting.id, gone, now).await?;
    }
    ctx.store.refresh_num_clients(&meeting.id).await?;
    Ok(Outcome::Done)
}

/// Ends, extends or keeps one meeting by the rules of SPEC §6.
async fn check_meeting(ctx: &App, meeting_id: &str) -> AppResult<Outcome> {
    let Some(meeting) = active_meeting(ctx, meeting_id).await? else {
        return Ok(Outcome::Done);
    };
    let platform = ctx.platforms.get(meeting.platform.as_str())?;
    let sessions = platform.list_sessions(&(&meeting).into()).await?;
    let spans: Vec<SessionSpan> = sessions
        .iter()
        .map(|s| SessionSpan {
            started_at: s.started_at,
            ended_at: s.ended_at,
        })
        .collect();
    let now = ctx.clock.now();
    match decide(&meeting, &spans, now, ctx.settings.empty_grace) {
        Decision::Keep => {}
        Decision::Extend { new_end } => {
            match platform.extend_meeting(&(&meeting).into(), new_end).await {
                Ok(()) => {
                    ctx.store.set_meeting_end(&meeting.id, new_end).await?;
                    tracing::info!(meeting = %meeting.id, %new_end, "meeting in use near its end: extended");
                }
                // The provider ends the room at its own expiry; ours stays the truth for it.
                Err(PlatformError::Unsupported { .. }) => {
                    tracing::info!(meeting = %meeting.id, "meeting in use near its end; its provider cannot extend it");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Decision::End { reason } => {
            end_meeting(ctx, &meeting, reason).await?;
        }
    }
    Ok(Outcome::Done)
}

/// Deletes an ended meeting's provider room; "already gone" is success at every provider.
async fn expire_room(ctx: &App, meeting_id: &str) -> AppResult<Outcome> {
    let Some(meeting) = ctx.store.meeting(meeting_id).await? else {
        return Ok(Outcome::Done);
    };
    let platform = match ctx.platforms.get(meeting.platform.as_str()) {
        Ok(platform) => platform,
        Err(e) => {
            tracing::warn!(meeting = %meeting.id, error = %e, "provider room left to expire on its own");
            return Ok(Outcome::Done);
        }
    };
    platform.delete_meeting(&(&meeting).into()).await?;
    Ok(Outcome::Done)
}

/// When a job gives up for good, what it was about is marked failed where people look:
/// the inbox event, or the outgoing webhook.
pub(crate) async fn gave_up(ctx: &App, job: &Job, error: &str) -> AppResult<()> {
    match job {
        Job::ProcessWebhook { inbox_id, .. } => {
            ctx.store
                .mark_inbox_processed(
                    inbox_id,
                    ctx.clock.now(),
                    Some(&format!("gave up: {error}")),
                )
                .await?;
        }
        Job::ApplyMeetingEvents { meeting_id } => {
            ctx.store
                .fail_pending_meeting_events(
                    meeting_id,
                    ctx.clock.now(),
                    &format!("gave up: {error}"),
                )
                .await?;
        }
        Job::DeliverWebhook { event_id } => {
            ctx.store
                .set_outbox_status(event_id, OutboxStatus::Failed)
                .await?;
        }
        Job::IngestRecording { recording_id } => {
            recordings::gave_up(ctx, recording_id, error).await?;
        }
        Job::ProcessTranscript { transcript_id } => {
            transcripts::gave_up(ctx, transcript_id, error).await?;
        }
        _ => {}
    }
    Ok(())
}

async fn active_meeting(ctx: &App, meeting_id: &str) -> AppResult<Option<Meeting>> {
    Ok(ctx.store.meeting(meeting_id).await?.filter(|m| m.is_active))
}
