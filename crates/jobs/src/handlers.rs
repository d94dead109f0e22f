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
        Job::DeliverWebhook { event_id } => notify::deliver(ctx, &event_id).await,
        Job::LifecycleSweep => sweep(ctx, |meeting_id| Job::CheckMeeting { meeting_id }).await,
        Job::PresenceSweep => sweep(ctx, |meeting_id| Job::ReconcilePresence { meeting_id }).await,
        Job::PruneJobs => {
            let pruned = ctx
                .store
                .prune_jobs(ctx.clock.now() - chrono::Duration::days(7))
                .await?;
            tracing::debug!(pruned, "old jobs deleted");
            Ok(Outcome::Done)
        }
    }
}

async fn enqueue(ctx: &JobContext, job: Job) -> Result<(), JobError> {
    let now = ctx.clock.now();
    if ctx.store.enqueue(&job.to_new(now), now).await? {
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
            // Webhooks can be missed or late: check against the provider's presence right away.
            enqueue(
                ctx,
                Job::ReconcilePresence {
                    meeting_id: meeting.id.clone(),
                },
            )
            .await?;
            Ok(None)
        }
        EventKind::MeetingStarted { .. } => {
            notify::meeting_event(ctx, &meeting, "meeting.started").await?;
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
    for p in &present {
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
    for gone in known
        .iter()
        .filter(|s| s.left_at.is_none() && !present_ids.contains(s.platform_session_id.as_str()))
    {
        ctx.store
            .session_left(&SessionChange {
                meeting_id: &meeting.id,
                platform_session_id: &gone.platform_session_id,
                user_id: gone.user_id.as_deref(),
                user_name: gone.user_name.as_deref(),
                at: now,
            })
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
        Decision::End { reason } => end_meeting(ctx, &meeting, reason).await?,
    }
    Ok(Outcome::Done)
}

/// Deactivates a meeting, expires its provider room, and tells the room owner.
pub async fn end_meeting(
    ctx: &JobContext,
    meeting: &Meeting,
    reason: &str,
) -> Result<(), JobError> {
    if !ctx.store.deactivate_meeting(&meeting.id).await? {
        return Ok(());
    }
    tracing::info!(meeting = %meeting.id, reason, "meeting ended");
    if let Ok(platform) = ctx.platforms.get(meeting.platform.as_str())
        && let Err(e) = platform.delete_meeting(&meeting.into()).await
    {
        tracing::warn!(meeting = %meeting.id, error = %e, "could not expire the provider room; it expires on its own");
    }
    notify::meeting_event(ctx, meeting, "meeting.ended").await?;
    Ok(())
}

async fn active_meeting(ctx: &JobContext, meeting_id: &str) -> Result<Option<Meeting>, JobError> {
    Ok(ctx.store.meeting(meeting_id).await?.filter(|m| m.is_active))
}
