//! What each job does. Every handler is idempotent: a job that runs twice (its worker died after
//! the work but before recording it) changes nothing the second time.

use std::collections::HashSet;

use reflector_core::Meeting;
use reflector_core::lifecycle::{Decision, SessionSpan, decide};
use reflector_platforms::{EventKind, PlatformError};
use reflector_store::SessionChange;

use crate::context::JobContext;
use crate::ingest::{find_meeting, meeting_key};
use crate::job::Job;
use crate::notify;
use crate::runner::{JobError, Outcome};

pub(crate) async fn run(ctx: &JobContext, job: Job) -> Result<Outcome, JobError> {
    match job {
        Job::ProcessWebhook {
            inbox_id,
            provider,
            event,
        } => {
            let note = apply_event(ctx, &provider, &event).await?;
            ctx.store
                .mark_inbox_processed(&inbox_id, ctx.clock.now(), note.as_deref())
                .await?;
            Ok(Outcome::Done)
        }
        Job::ReconcilePresence { meeting_id } => reconcile_presence(ctx, &meeting_id).await,
        Job::CheckMeeting { meeting_id } => check_meeting(ctx, &meeting_id).await,
        Job::ExpireRoom { meeting_id } => expire_room(ctx, &meeting_id).await,
        Job::DeliverWebhook { event_id } => notify::deliver(ctx, &event_id).await,
        Job::LifecycleSweep => sweep(ctx, |meeting_id| Job::CheckMeeting { meeting_id }).await,
        Job::PresenceSweep => sweep(ctx, |meeting_id| Job::ReconcilePresence { meeting_id }).await,
        Job::PruneJobs => {
            let now = ctx.clock.now();
            let jobs = ctx
                .store
                .prune_jobs(now - chrono::Duration::days(7))
                .await?;
            // Longer than any provider redelivers a webhook, so the inbox still recognises them.
            let history = ctx
                .store
                .prune_webhooks(now - chrono::Duration::days(30))
                .await?;
            tracing::debug!(jobs, history, "old jobs and webhook history deleted");
            Ok(Outcome::Done)
        }
    }
}

async fn enqueue(ctx: &JobContext, job: Job) -> Result<(), JobError> {
    enqueue_in(ctx, job, chrono::Duration::zero()).await
}

/// Enqueues `job` to run `delay` from now; a worker is woken when it is due at once.
async fn enqueue_in(ctx: &JobContext, job: Job, delay: chrono::Duration) -> Result<(), JobError> {
    let now = ctx.clock.now();
    if ctx.store.enqueue(&job.to_new(now + delay), now).await? && delay <= chrono::Duration::zero()
    {
        ctx.wake.notify_one();
    }
    Ok(())
}

async fn sweep(ctx: &JobContext, job: impl Fn(String) -> Job) -> Result<Outcome, JobError> {
    for meeting_id in ctx.store.active_meeting_ids().await? {
        enqueue(ctx, job(meeting_id)).await?;
    }
    Ok(Outcome::Done)
}

/// Applies a provider event; the returned note (e.g. "unknown meeting") is kept in the inbox.
async fn apply_event(
    ctx: &JobContext,
    provider: &str,
    event: &EventKind,
) -> Result<Option<String>, JobError> {
    let Some(key) = meeting_key(event) else {
        return Ok(Some("no action for this event type".into()));
    };
    let Some(meeting) = find_meeting(&ctx.store, provider, key).await? else {
        return Ok(Some("unknown meeting".into()));
    };
    match event {
        EventKind::ParticipantJoined(p) | EventKind::ParticipantLeft(p) => {
            let change = SessionChange {
                meeting_id: &meeting.id,
                platform_session_id: &p.session_id,
                user_id: p.user_id.as_deref(),
                user_name: p.user_name.as_deref(),
                at: p.at,
            };
            if matches!(event, EventKind::ParticipantJoined(_)) {
                ctx.store.session_joined(&change).await?;
            } else {
                ctx.store.session_left(&change).await?;
            }
            ctx.store.refresh_num_clients(&meeting.id).await?;
            // Webhooks can be missed or late: check against the provider's presence soon. Not at
            // once: presence lags behind the events anyway, and one check then covers a burst of
            // events (while it is queued no other is), so the meeting's next events do not wait
            // behind provider calls, and the provider is not asked once per event.
            let check = Job::ReconcilePresence {
                meeting_id: meeting.id.clone(),
            };
            enqueue_in(ctx, check, PRESENCE_CHECK_DELAY).await?;
            Ok(None)
        }
        EventKind::MeetingStarted { .. } => {
            notify::meeting_started(ctx, &meeting).await?;
            Ok(None)
        }
        EventKind::MeetingEnded { .. } => {
            // The provider's room emptied; whether our meeting is over is the lifecycle's call.
            enqueue(
                ctx,
                Job::CheckMeeting {
                    meeting_id: meeting.id.clone(),
                },
            )
            .await?;
            Ok(None)
        }
        _ => Ok(Some("stored; recordings are not processed yet".into())),
    }
}

/// Presence APIs lag behind joins (Daily: up to about 15 s), so a session this young is not
/// closed for being absent from them.
const PRESENCE_LAG: chrono::Duration = chrono::Duration::seconds(30);

/// How long after a participant event its meeting's presence is checked.
const PRESENCE_CHECK_DELAY: chrono::Duration = chrono::Duration::seconds(5);

/// Corrects the meeting's participant sessions to what the provider says is present now.
async fn reconcile_presence(ctx: &JobContext, meeting_id: &str) -> Result<Outcome, JobError> {
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
    let known = ctx.store.participant_sessions(&meeting.id).await?;
    let present_ids: HashSet<&str> = present.iter().map(|p| p.session_id.as_str()).collect();
    let open_ids: HashSet<&str> = known
        .iter()
        .filter(|s| s.left_at.is_none())
        .map(|s| s.platform_session_id.as_str())
        .collect();
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
    for gone in known.iter().filter(|s| {
        s.left_at.is_none()
            && s.joined_at < now - PRESENCE_LAG
            && !present_ids.contains(s.platform_session_id.as_str())
    }) {
        ctx.store
            .session_absent(&meeting.id, &gone.platform_session_id, now)
            .await?;
    }
    ctx.store.refresh_num_clients(&meeting.id).await?;
    Ok(Outcome::Done)
}

/// Ends, extends or keeps one meeting by the rules of SPEC §6.
async fn check_meeting(ctx: &JobContext, meeting_id: &str) -> Result<Outcome, JobError> {
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

/// Ends a meeting: in one transaction it is deactivated, its `meeting.ended` webhook queued and
/// its provider room's expiry queued as a job, so no interruption can lose either. Returns
/// whether this call ended it (`false` if it had already ended).
pub async fn end_meeting(
    ctx: &JobContext,
    meeting: &Meeting,
    reason: &str,
) -> Result<bool, JobError> {
    let now = ctx.clock.now();
    let room = ctx.store.room(&meeting.room_id).await?;
    let webhook = room
        .as_ref()
        .and_then(|room| notify::meeting_outbox(ctx, meeting, room, "meeting.ended"))
        .map(|event| {
            let delivery = Job::DeliverWebhook {
                event_id: event.event_id.clone(),
            };
            (event, delivery.to_new(now))
        });
    let expire = Job::ExpireRoom {
        meeting_id: meeting.id.clone(),
    }
    .to_new(now);
    let ended = ctx
        .store
        .end_meeting(
            &meeting.id,
            webhook.as_ref().map(|(event, job)| (event, job)),
            &[expire],
            now,
        )
        .await?;
    if ended {
        tracing::info!(meeting = %meeting.id, reason, "meeting ended");
        ctx.wake.notify_one();
    }
    Ok(ended)
}

/// Deletes an ended meeting's provider room; "already gone" is success at every provider.
async fn expire_room(ctx: &JobContext, meeting_id: &str) -> Result<Outcome, JobError> {
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
    match platform.delete_meeting(&(&meeting).into()).await {
        Ok(()) => Ok(Outcome::Done),
        Err(PlatformError::Unsupported { .. }) => Ok(Outcome::Done),
        Err(e) => Err(e.into()),
    }
}

/// When a job gives up for good, what it was about is marked failed where people look:
/// the inbox event, or the outgoing webhook.
pub(crate) async fn gave_up(ctx: &JobContext, job: &Job, error: &str) -> Result<(), JobError> {
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
        Job::DeliverWebhook { event_id } => {
            ctx.store.set_outbox_status(event_id, "failed").await?;
        }
        _ => {}
    }
    Ok(())
}

async fn active_meeting(ctx: &JobContext, meeting_id: &str) -> Result<Option<Meeting>, JobError> {
    Ok(ctx.store.meeting(meeting_id).await?.filter(|m| m.is_active))
}
