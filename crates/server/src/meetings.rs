//! Getting or creating a room's meeting, race-free per room without Redis.
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
use reflector_platforms::CreateMeeting;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

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
pub async fn get_or_create(
    state: &AppState,
    room: &Room,
    allow_duplicated: bool,
) -> ApiResult<Meeting> {
    let platform_name = meeting_platform(room, state.platforms.rollouts());
    let wanted = MeetingSettings::for_room(room, platform_name);
    if !allow_duplicated && let Some(m) = find_reusable(state, room, &wanted).await? {
        return Ok(m);
    }
    // Fail fast, before queueing, when the platform can't be used at all.
    state.platforms.get(wanted.platform.as_str())?;
    if allow_duplicated {
        return create(state, room, &wanted).await;
    }

    let mutex = state.meetings.room_mutex(&room.id);
    let _local = mutex.lock().await;
    if let Some(m) = find_reusable(state, room, &wanted).await? {
        return Ok(m);
    }
    let holder = uuid::Uuid::new_v4().to_string();
    acquire_lease(state, &room.id, &holder).await?;
    let result = async {
        // Another process may have created it while we waited for the lease.
        if let Some(m) = find_reusable(state, room, &wanted).await? {
            return Ok(m);
        }
        create(state, room, &wanted).await
    }
    .await;
    if let Err(e) = state.store.unlock_room(&room.id, &holder).await {
        tracing::warn!(room = %room.name, error = %e, "could not release the meeting lease; it will expire");
    }
    result
}

async fn find_reusable(
    state: &AppState,
    room: &Room,
    wanted: &MeetingSettings,
) -> ApiResult<Option<Meeting>> {
    let now = state.clock.now();
    let open = state.store.open_meetings(&room.id, now).await?;
    Ok(reusable_meeting(&open, wanted, now).cloned())
}

async fn acquire_lease(state: &AppState, room_id: &str, holder: &str) -> ApiResult<()> {
    let deadline = tokio::time::Instant::now() + LEASE_WAIT;
    loop {
        let now = state.clock.now();
        if state
            .store
            .try_lock_room(room_id, holder, now, now + LEASE)
            .await?
        {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            let mut e = ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "Another request is still creating this room's meeting; try again shortly.",
            );
            e.retry_after = Some(2);
            return Err(e);
        }
        tokio::time::sleep(LEASE_POLL).await;
    }
}

/// Creates the provider room, then stores the meeting. If storing fails the provider room is
/// deleted again, so a failure leaves no half-made meeting behind.
async fn create(state: &AppState, room: &Room, wanted: &MeetingSettings) -> ApiResult<Meeting> {
    let platform = state.platforms.get(wanted.platform.as_str())?;
    let now: DateTime<Utc> = state.clock.now();
    let end = now + MEETING_DURATION;
    let created = platform
        .create_meeting(&CreateMeeting {
            room_name: &room.name,
            start_date: now,
            end_date: end,
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
        start_date: now,
        end_date: end,
        room_id: room.id.clone(),
        is_locked: wanted.is_locked,
        room_mode: wanted.room_mode,
        recording_type: wanted.recording_type,
        recording_trigger: wanted.recording_trigger,
        num_clients: 0,
        is_active: true,
        calendar_event_id: None,
        calendar_metadata: None,
        composed_video_key: None,
        composed_video_duration: None,
    };
    if let Err(e) = state.store.insert_meeting(&meeting).await {
        if let Err(cleanup) = platform.delete_meeting(&(&meeting).into()).await {
            tracing::warn!(meeting = %meeting.room_name, error = %cleanup, "could not delete the provider room of a meeting that failed to save");
        }
        return Err(e.into());
    }
    tracing::info!(room = %room.name, meeting = %meeting.id, platform = %meeting.platform, "meeting created");
    Ok(meeting)
}
