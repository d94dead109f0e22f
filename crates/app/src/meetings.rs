//! A room's meetings: getting or creating one (race-free per room without Redis), joining,
//! and ending one.
//!
//! Requests in one process queue on a per-room async mutex, so 50 concurrent calls cause one
//! provider call and 49 cheap re-reads. Across processes, the room's creation lease in the
//! database (`room_meeting_lock`) serialises creators; a crashed holder's lease expires.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reflector_core::{
    Meeting, MeetingSettings, Room, platform::meeting_platform, reusable_meeting,
};
use reflector_platforms::{CreateMeeting, JoinRequest};
use reflector_store::CalendarEvent;

use crate::access::Actor;
use crate::jobs::Job;
use crate::{App, AppError, AppResult, notify};

/// How long a new meeting lasts unless it is extended.
pub const MEETING_DURATION: chrono::Duration = chrono::Duration::hours(8);
/// Longer than a provider call with all its retries may take.
const LEASE: chrono::Duration = chrono::Duration::seconds(60);
const LEASE_WAIT: Duration = Duration::from_secs(45);
const LEASE_POLL: Duration = Duration::from_millis(50);

#[derive(Default)]
pub struct MeetingCreator {
    rooms: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl MeetingCreator {
    fn room_mutex(&self, room_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = rooms.get(room_id).and_then(Weak::upgrade) {
            return existing;
        }
        // Forget rooms nobody is waiting on, so the map stays as small as the current traffic.
        rooms.retain(|_, weak| weak.strong_count() > 0);
        let fresh = Arc::new(tokio::sync::Mutex::new(()));
        rooms.insert(room_id.to_owned(), Arc::downgrade(&fresh));
        fresh
    }
}

/// The meeting a visitor of `room` should use: the open meeting whose settings match the room's
/// current ones, else a new one on the provider. `allow_duplicated` always creates.
pub async fn get_or_create(app: &App, room: &Room, allow_duplicated: bool) -> AppResult<Meeting> {
    let platform_name = meeting_platform(room, app.platforms.rollouts());
    let wanted = MeetingSettings::for_room(room, platform_name);
    if !allow_duplicated && let Some(m) = find_reusable(app, room, &wanted).await? {
        return Ok(m);
    }
    // Fail fast, before queueing, when the platform can't be used at all.
    app.platforms.get(wanted.platform.as_str())?;
    if allow_duplicated {
        return create(app, room, &wanted, Schedule::now(app)).await;
    }

    let mutex = app.meetings.room_mutex(&room.id);
    let _local = mutex.lock().await;
    if let Some(m) = find_reusable(app, room, &wanted).await? {
        return Ok(m);
    }
    let holder = uuid::Uuid::new_v4().to_string();
    acquire_lease(app, &room.id, &holder).await?;
    let result = async {
        // Another process may have created it while we waited for the lease.
        if let Some(m) = find_reusable(app, room, &wanted).await? {
            return Ok(m);
        }
        create(app, room, &wanted, Schedule::now(app)).await
    }
    .await;
    if let Err(e) = app.store.unlock_room(&room.id, &holder).await {
        tracing::warn!(room = %room.name, error = %e, "could not release the meeting lease; it will expire");
    }
    result
}

async fn find_reusable(
    app: &App,
    room: &Room,
    wanted: &MeetingSettings,
) -> AppResult<Option<Meeting>> {
    let now = app.clock.now();
    let open = app.store.open_meetings(&room.id, now).await?;
    Ok(reusable_meeting(&open, wanted, now).cloned())
}

async fn acquire_lease(app: &App, room_id: &str, holder: &str) -> AppResult<()> {
    let deadline = tokio::time::Instant::now() + LEASE_WAIT;
    loop {
        let now = app.clock.now();
        if app
            .store
            .try_lock_room(room_id, holder, now, now + LEASE)
            .await?
        {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(AppError::Busy {
                detail: "Another request is still creating this room's meeting; try again shortly."
                    .into(),
                retry_after: 2,
            });
        }
        tokio::time::sleep(LEASE_POLL).await;
    }
}

/// When a new meeting runs, and the calendar event it is for.
struct Schedule {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    calendar_event_id: Option<String>,
    calendar_metadata: Option<serde_json::Value>,
}

impl Schedule {
    /// A meeting for whoever opens the room: from now, for [`MEETING_DURATION`].
    fn now(app: &App) -> Self {
        let now = app.clock.now();
        Self {
            start: now,
            end: now + MEETING_DURATION,
            calendar_event_id: None,
            calendar_metadata: None,
        }
    }
}

/// The meeting of a calendar event (SPEC §7): the event's times, its id, and its title,
/// description and attendees as `calendar_metadata`. At most one per event (a unique index):
/// a second attempt fails to store, and its provider room is deleted again.
pub async fn create_for_event(app: &App, room: &Room, event: &CalendarEvent) -> AppResult<Meeting> {
    let platform_name = meeting_platform(room, app.platforms.rollouts());
    let wanted = MeetingSettings::for_room(room, platform_name);
    // A meeting must end after it starts; an event without length gets an hour.
    let end = if event.end_time > event.start_time {
        event.end_time
    } else {
        event.start_time + chrono::Duration::hours(1)
    };
    let schedule = Schedule {
        start: event.start_time,
        end,
        calendar_event_id: Some(event.id.clone()),
        calendar_metadata: Some(calendar_metadata(event)),
    };
    create(app, room, &wanted, schedule).await
}

/// What a meeting keeps of its calendar event.
pub fn calendar_metadata(event: &CalendarEvent) -> serde_json::Value {
    serde_json::json!({
        "title": event.title,
        "description": event.description,
        "attendees": event.attendees,
        "location": event.location,
    })
}

/// Creates the provider room, then stores the meeting. If storing fails the provider room is
/// deleted again, so a failure leaves no half-made meeting behind.
async fn create(
    app: &App,
    room: &Room,
    wanted: &MeetingSettings,
    schedule: Schedule,
) -> AppResult<Meeting> {
    let platform = app.platforms.get(wanted.platform.as_str())?;
    let created = platform
        .create_meeting(&CreateMeeting {
            room_name: &room.name,
            start_date: schedule.start,
            end_date: schedule.end,
            is_locked: wanted.is_locked,
            room_mode: wanted.room_mode,
            recording_type: wanted.recording_type,
            recording_trigger: wanted.recording_trigger,
        })
        .await?;
    let meeting = Meeting {
        id: uuid::Uuid::new_v4().to_string(),
        platform: wanted.platform.clone(),
        platform_meeting_id: created.platform_meeting_id,
        room_name: created.room_name,
        room_url: created.room_url,
        host_room_url: created.host_room_url,
        start_date: schedule.start,
        end_date: schedule.end,
        room_id: room.id.clone(),
        is_locked: wanted.is_locked,
        room_mode: wanted.room_mode,
        recording_type: wanted.recording_type,
        recording_trigger: wanted.recording_trigger,
        num_clients: 0,
        is_active: true,
        calendar_event_id: schedule.calendar_event_id,
        calendar_metadata: schedule.calendar_metadata,
        composed_video_key: None,
        composed_video_duration: None,
    };
    if let Err(e) = app.store.insert_meeting(&meeting).await {
        if let Err(cleanup) = platform.delete_meeting(&(&meeting).into()).await {
            tracing::warn!(meeting = %meeting.room_name, error = %cleanup, "could not delete the provider room of a meeting that failed to save");
        }
        return Err(e.into());
    }
    tracing::info!(room = %room.name, meeting = %meeting.id, platform = %meeting.platform, "meeting created");
    Ok(meeting)
}

/// The meeting of `room_name` with id `meeting_id`; `NotFound` when it belongs to another room.
pub async fn room_meeting(app: &App, room: &Room, meeting_id: &str) -> AppResult<Meeting> {
    app.store
        .meeting(meeting_id)
        .await?
        .filter(|m| m.room_id == room.id)
        .ok_or(AppError::NotFound("Meeting"))
}

/// The meeting with a `room_url` this actor can join with (a provider token where the provider
/// uses them).
pub async fn join(app: &App, actor: &Actor, room: &Room, meeting_id: &str) -> AppResult<Meeting> {
    let mut meeting = room_meeting(app, room, meeting_id).await?;
    if !meeting.is_active {
        return Err(AppError::Refused("Meeting is not active".into()));
    }
    if meeting.end_date <= app.clock.now() {
        return Err(AppError::Refused("Meeting has ended".into()));
    }
    let platform = app.platforms.get(meeting.platform.as_str())?;
    meeting.room_url = platform
        .join_url(
            &(&meeting).into(),
            &JoinRequest {
                user_id: actor.user_id.as_deref(),
                is_owner: actor.owns(room),
                recording_type: meeting.recording_type,
                skip_consent: room.skip_consent,
            },
        )
        .await?;
    Ok(meeting)
}

/// Ends a meeting on its owner's request; the provider room is expired by a job.
pub async fn deactivate(app: &App, actor: &Actor, meeting_id: &str) -> AppResult<Meeting> {
    actor.require()?;
    let meeting = app
        .store
        .meeting(meeting_id)
        .await?
        .ok_or(AppError::NotFound("Meeting"))?;
    let room = app
        .store
        .room(&meeting.room_id)
        .await?
        .ok_or(AppError::NotFound("Room"))?;
    actor.require_owner(&room, "Only the room's owner may end its meetings")?;
    end_meeting(app, &meeting, "ended by its owner").await?;
    Ok(meeting)
}

/// Ends a meeting: in one transaction it is deactivated, its `meeting.ended` webhook queued and
/// its provider room's expiry queued as a job, so no interruption can lose either. A meeting
/// that had already ended is left as it is.
pub async fn end_meeting(
    ctx: &App,
    meeting: &Meeting,
    reason: &str,
) -> reflector_store::Result<()> {
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
        ctx.queue.wake();
    }
    Ok(())
}
