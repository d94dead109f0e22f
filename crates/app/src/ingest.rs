//! Accepting provider events: a verified webhook (or the mock's in-process event) is stored once
//! in the inbox with the job that applies it, in one transaction, so the HTTP answer can go out
//! in milliseconds and nothing is lost if the process dies right after.

use reflector_platforms::{EventKind, MeetingKey, ProviderEvent};
use reflector_store::{InboxEvent, Store};
use tokio::sync::mpsc;

use crate::App;
use crate::jobs::Job;

/// Stores `event` from `provider`; `false` when it was a redelivery of a stored event.
pub async fn ingest_event(
    ctx: &App,
    provider: &str,
    event: &ProviderEvent,
) -> reflector_store::Result<bool> {
    let now = ctx.clock.now();
    // Known meetings get the meeting's job key, so their events never run at the same time as
    // the meeting's other jobs. (Not strictly in order: the handlers tolerate any order.)
    let meeting_id = match meeting_key(&event.kind) {
        Some(key) => find_meeting(&ctx.store, provider, key).await?.map(|m| m.id),
        None => None,
    };
    let inbox = InboxEvent {
        id: uuid::Uuid::new_v4().to_string(),
        provider: provider.to_owned(),
        event_id: event.event_id.clone(),
        event_type: event.event_type.clone(),
        payload: event.payload.to_string(),
        received_at: now,
    };
    let new = ctx
        .store
        .ingest_webhook(&inbox, |inbox_id| {
            Job::ProcessWebhook {
                inbox_id: inbox_id.to_owned(),
                provider: provider.to_owned(),
                event: event.kind.clone(),
            }
            .to_new_for_meeting(now, meeting_id.as_deref())
        })
        .await?;
    if new {
        ctx.queue.wake();
    }
    Ok(new)
}

/// Feeds events from providers that run inside Reflector (the mock) into [`ingest_event`].
pub async fn consume_provider_events(
    ctx: std::sync::Arc<App>,
    mut events: mpsc::Receiver<(&'static str, ProviderEvent)>,
) {
    while let Some((provider, event)) = events.recv().await {
        if let Err(e) = ingest_event(&ctx, provider, &event).await {
            tracing::error!(provider, error = %e, "could not store a provider event");
        }
    }
}

pub(crate) fn meeting_key(kind: &EventKind) -> Option<&MeetingKey> {
    match kind {
        EventKind::ParticipantJoined(p) | EventKind::ParticipantLeft(p) => Some(&p.meeting),
        EventKind::MeetingStarted { meeting, .. }
        | EventKind::MeetingEnded { meeting, .. }
        | EventKind::RecordingStarted { meeting, .. }
        | EventKind::RecordingError { meeting, .. } => Some(meeting),
        EventKind::RecordingReady(r) => Some(&r.meeting),
        EventKind::Other => None,
    }
}

pub(crate) async fn find_meeting(
    store: &Store,
    provider: &str,
    key: &MeetingKey,
) -> reflector_store::Result<Option<reflector_core::Meeting>> {
    match key {
        MeetingKey::RoomName(name) => store.meeting_by_provider_room(provider, name).await,
        MeetingKey::PlatformMeetingId(id) => store.meeting_by_platform_id(provider, id).await,
    }
}
