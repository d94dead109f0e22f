//! A room's meetings: getting or creating one (race-free per room without Redis), joining,
//! and ending one.
//!
//! Requests in one process queue on a per-room async mutex, so 50 concurrent calls cause one
//! provider call and 49 cheap re-reads. Across processes, the room's creation lease in the
//! database (`room_meeting_lock`) serialises creators; it is renewed while a creation runs, and
//! a crashed holder's lease expires. A creation runs as a task of its own, so a client that
//! goes away neither aborts it half-way (leaking the provider room) nor leaves the lease held;
//! waiters wait a bounded time, then get 503 with `Retry-After`.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::{DefaultKeyedRateLimiter, Quota};
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
/// How long the creation lease lasts without renewal: how long a crashed creator blocks its room.
const LEASE: chrono::Duration = chrono::Duration::seconds(30);
/// How often a running creation renews its lease (well within [`LEASE`]).
const LEASE_RENEWAL: Duration = Duration::from_secs(2);
/// How long a request waits for another one's creation before it gets 503 with `Retry-After`.
pub const CREATION_WAIT: Duration = Duration::from_secs(15);
const LEASE_POLL: Duration = Duration::from_millis(50);
/// Open meetings a room may have at once. More is never a real need (calendar overlaps are a
/// few), and each one is a provider room.
pub const MAX_OPEN_MEETINGS: usize = 10;

pub struct MeetingCreator {
    rooms: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
    /// Provider creations per room: a burst of [`MAX_OPEN_MEETINGS`], then one every 10 s, so
    /// even a room whose meetings keep being ended cannot drive unbounded provider calls.
    creations: DefaultKeyedRateLimiter<String>,
}

impl Default for MeetingCreator {
    fn default() -> Self {
        let burst = u32::try_from(MAX_OPEN_MEETINGS).unwrap_or(u32::MAX);
        let quota = Quota::with_period(Duration::from_secs(10))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        Self {
            rooms: Mutex::default(),
            creations: DefaultKeyedRateLimiter::keyed(quota),
        }
    }
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

    fn check_creation_rate(&self, room_id: &str) -> AppResult<()> {
        self.creations.retain_recent();
        self.creations
            .check_key(&room_id.to_owned())
            .map_err(|_| AppError::RateLimited {
                detail: "Too many meetings were started in this room just now; try again shortly."
                    .into(),
                retry_after: 10,
            })
    }
}

/// The room named `room_name`, and the meeting its visitor should use: the open meeting whose
/// settings match the room's current ones, else a new one on the provider. `allow_duplicated`
/// always creates, and only for whom [`Actor::may_start_another_meeting`] allows.
pub async fn get_or_create(
    app: &Arc<App>,
    actor: &Actor,
    room_name: &str,
    allow_duplicated: bool,
) -> AppResult<(Room, Meeting)> {
    // The room and its open meetings in one read: the whole of the usual (reuse) path.
    let now = app.clock.now();
    let (room, open) = app
        .store
        .room_by_name_with_open_meetings(room_name, now)
        .await?
        .ok_or(AppError::NotFound("Room"))?;
    let platform_name = meeting_platform(&room, app.platforms.rollouts());
    let wanted = MeetingSettings::for_room(&room, platform_name);
    if allow_duplicated {
        if !actor.may_start_another_meeting(&room) {
            actor.require()?;
            return Err(AppError::forbidden(
                "Only the room's owner may start another meeting beside the open one (in a \
                 shared calendar room, any signed-in user may)",
            ));
        }
    } else if let Some(m) = reusable_meeting(&open, &wanted, now) {
        let m = m.clone();
        return Ok((room, m));
    }
    // Fail fast, before queueing, when the platform can't be used at all.
    app.platforms.get(wanted.platform.as_str())?;
    let creation = tokio::spawn({
        let app = app.clone();
        let room = room.clone();
        async move { create_serialised(&app, &room, &wanted, allow_duplicated).await }
    });
    let meeting = creation.await.map_err(|e| {
        tracing::error!(room = %room.name, error = %e, "meeting creation task failed");
        AppError::Unavailable("Creating the meeting failed unexpectedly; try again.".into())
    })??;
    Ok((room, meeting))
}

/// Runs under the room's mutex and lease: reuses what another request created meanwhile, or
/// creates within the room's limits.
async fn create_serialised(
    app: &App,
    room: &Room,
    wanted: &MeetingSettings,
    allow_duplicated: bool,
) -> AppResult<Meeting> {
    let deadline = tokio::time::Instant::now() + CREATION_WAIT;
    let mutex = app.meetings.room_mutex(&room.id);
    let _local = tokio::time::timeout_at(deadline, mutex.lock())
        .await
        .map_err(|_| busy())?;
    if !allow_duplicated && let Some(m) = find_reusable(app, room, wanted).await? {
        return Ok(m);
    }
    let holder = uuid::Uuid::new_v4().to_string();
    acquire_lease(app, &room.id, &holder, deadline).await?;
    let result = async {
        // Another process may have created it while we waited for the lease.
        let open = app.store.open_meetings(&room.id, app.clock.now()).await?;
        if !allow_duplicated
            && let Some(m) = reusable_meeting(&open, wanted, app.clock.now())
        {
            return Ok(m.clone());
        }
        if open.len() >= MAX_OPEN_MEETINGS {
            return Err(AppError::Conflict(format!(
                "This room already has {MAX_OPEN_MEETINGS} open meetings; end one before starting another."
            )));
        }
        app.meetings.check_creation_rate(&room.id)?;
        renewing_lease(
            app,
            &room.id,
            &holder,
            create(app, room, wanted, Schedule::now(app)),
        )
        .await
    }
    .await;
    if let Err(e) = app.store.unlock_room(&room.id, &holder).await {
        tracing::warn!(room = %room.name, error = %e, "could not release the meeting lease; it will expire");
    }
    result
}

fn busy() -> AppError {
    AppError::Busy {
        detail: "Another request is still creating this room's meeting; try again shortly.".into(),
        retry_after: 5,
    }
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

async fn acquire_lease(
    app: &App,
    room_id: &str,
    holder: &str,
    deadline: tokio::time::Instant,
) -> AppResult<()> {
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
            return Err(busy());
        }
        tokio::time::sleep(LEASE_POLL).await;
    }
}

/// Runs `work` while renewing `holder`'s lease on the room, so a slow provider call does not
/// outlive the lease and let another process create a second meeting.
async fn renewing_lease<T>(
    app: &App,
    room_id: &str,
    holder: &str,
    work: impl std::future::Future<Output = T>,
) -> T {
    let mut renewal = tokio::time::interval(LEASE_RENEWAL);
    renewal.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    renewal.tick().await; // the first tick is immediate; the lease was just taken
    tokio::pin!(work);
    loop {
        tokio::select! {
            result = &mut work => return result,
            _ = renewal.tick() => {
                match app.store.renew_room_lock(room_id, holder, app.clock.now() + LEASE).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(room_id, "the meeting lease was lost during a creation"),
                    Err(e) => tracing::warn!(room_id, error = %e, "could not renew the meeting lease"),
                }
            }
        }
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
                user_name: actor.name.as_deref(),
                is_owner: actor.owns(room),
                admit: !meeting.is_locked || actor.may_skip_lobby(room),
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
