//! Rooms that follow a calendar (SPEC §7): syncing a room's ICS feed into its calendar events
//! ([`sync_room`], by the scheduler when its interval has elapsed or by its owner at any time),
//! and preparing each upcoming event's meeting ([`prepare_meetings`]).
//!
//! A sync never changes anything unless the whole feed was fetched and parsed: an unreachable
//! feed or one that is not a calendar leaves the events as they were, and records the error on
//! the room for its owner to read.

use chrono::{DateTime, Utc};
use reflector_calendar::{Window, parse_feed_for_room, room_events};
use reflector_core::Room;
use reflector_platforms::PlatformError;
use reflector_store::{FeedEvent, IcsSyncState};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::ics_fetch::{FETCH_TIMEOUT, Fetched, Validators, fetch};
use crate::meetings::{calendar_metadata, create_for_event, end_meeting};
use crate::{App, AppError, AppResult};

/// An unchanged feed is still read in full this often: the window moves on even when the feed
/// does not, and a recurring series' next occurrence must be stored before it starts.
const REREAD_AFTER: chrono::Duration = chrono::Duration::hours(1);
/// How long a sync may hold a room's sync lease (longer than a fetch's deadline).
const SYNC_LEASE: chrono::Duration = chrono::Duration::seconds(120);
/// Meetings are prepared for events starting within (now − 6 min, now + 7 min] (SPEC §7).
const PREPARE_BEFORE: chrono::Duration = chrono::Duration::minutes(7);
const PREPARE_AFTER: chrono::Duration = chrono::Duration::minutes(6);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncStatus {
    Success,
    Unchanged,
    Error,
    Skipped,
}

impl SyncStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Unchanged => "unchanged",
            Self::Error => "error",
            Self::Skipped => "skipped",
        }
    }
}

/// What one sync did (SPEC §4 `…/ics/sync`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResult {
    pub status: SyncStatus,
    /// Occurrences in the feed that belong to this room within the window.
    pub events_found: usize,
    /// VEVENTs in the feed.
    pub total_events: usize,
    pub events_created: usize,
    pub events_updated: usize,
    pub events_deleted: usize,
    pub error: Option<String>,
}

impl SyncResult {
    fn only(status: SyncStatus, error: Option<String>) -> Self {
        Self {
            status,
            events_found: 0,
            total_events: 0,
            events_created: 0,
            events_updated: 0,
            events_deleted: 0,
            error,
        }
    }
}

/// Whether a room is set up to follow a calendar.
pub fn follows_calendar(room: &Room) -> bool {
    room.ics_enabled
        && room
            .ics_url
            .as_deref()
            .is_some_and(|u| !u.trim().is_empty())
}

/// The room's URL as its calendar events mention it.
pub fn room_url(app: &App, room: &Room) -> String {
    format!(
        "{}/{}",
        app.settings.ui_base_url.trim_end_matches('/'),
        room.name
    )
}

/// Syncs a room's feed now, whatever its interval (the owner's "sync now" and the scheduler's
/// job alike). Refused when the room does not follow a calendar.
pub async fn sync_room(app: &App, room: &Room) -> AppResult<SyncResult> {
    if !follows_calendar(room) {
        return Err(AppError::refused(
            "This room does not follow a calendar: set its ICS URL and enable ICS first",
        ));
    }
    let holder = uuid::Uuid::new_v4().to_string();
    let lease = format!("ics:{}", room.id);
    let now = app.clock.now();
    if !app
        .store
        .try_lease(&lease, &holder, now, now + SYNC_LEASE)
        .await?
    {
        return Ok(SyncResult::only(
            SyncStatus::Skipped,
            Some("A sync of this room's calendar is already running".into()),
        ));
    }
    let result = sync_locked(app, room).await;
    if let Err(e) = app.store.release_lease(&lease, &holder).await {
        tracing::warn!(room = %room.name, error = %e, "could not release the calendar sync lease; it will expire");
    }
    result
}

async fn sync_locked(app: &App, room: &Room) -> AppResult<SyncResult> {
    let feed_url = room.ics_url.as_deref().unwrap_or_default();
    let previous = app.store.ics_sync_state(&room.id).await?;
    let started = app.clock.now();
    // Validators only while the last full read is recent (see REREAD_AFTER).
    let recent = previous
        .last_applied_at
        .is_some_and(|at| started - at < REREAD_AFTER);
    let validators = if recent {
        Validators {
            etag: room.ics_last_etag.as_deref(),
            last_modified: previous.last_modified.as_deref(),
        }
    } else {
        Validators::default()
    };
    let fetched = fetch(
        feed_url,
        &validators,
        app.settings.allow_private_urls,
        FETCH_TIMEOUT,
    )
    .await;
    let failed = |error: String| {
        let mut state = previous.clone();
        state.last_status = Some(SyncStatus::Error.as_str().into());
        state.last_error = Some(error.clone());
        state.last_attempt_at = Some(started);
        (state, SyncResult::only(SyncStatus::Error, Some(error)))
    };
    let (text, etag, last_modified) = match fetched {
        Err(error) => return record(app, room, failed(error), None).await,
        Ok(Fetched::NotModified) => {
            return unchanged(app, room, &previous, started, room.ics_last_etag.clone()).await;
        }
        Ok(Fetched::Body {
            text,
            etag,
            last_modified,
        }) => (text, etag, last_modified),
    };
    let hash = hex::encode(Sha256::digest(text.as_bytes()));
    if recent && previous.content_hash.as_deref() == Some(hash.as_str()) {
        return unchanged(app, room, &previous, started, etag).await;
    }
    let url = room_url(app, room);
    let feed = match parse_feed_for_room(&text, &url) {
        Ok(feed) => feed,
        Err(e) => return record(app, room, failed(e.to_string()), None).await,
    };
    drop(text);
    let found = room_events(&feed, &url, Window::around(started));
    let events: Vec<FeedEvent> = found
        .into_iter()
        .map(|o| FeedEvent {
            ics_uid: o.uid,
            recurrence_id: o.recurrence_id,
            title: o.title,
            description: o.description,
            start_time: o.start,
            end_time: o.end,
            attendees: serde_json::to_value(&o.attendees).unwrap_or_default(),
            location: o.location,
            ics_raw_data: Some(o.raw),
        })
        .collect();
    let changes = app.store.apply_feed(&room.id, &events, started).await?;
    follow_changes(app, &changes.moved, &changes.removed).await;
    let result = SyncResult {
        status: SyncStatus::Success,
        events_found: events.len(),
        total_events: feed.total_events(),
        events_created: changes.created,
        events_updated: changes.updated,
        events_deleted: changes.deleted,
        error: None,
    };
    let state = IcsSyncState {
        content_hash: Some(hash),
        last_modified,
        last_status: Some(SyncStatus::Success.as_str().into()),
        last_error: None,
        last_attempt_at: Some(started),
        last_applied_at: Some(started),
    };
    tracing::info!(room = %room.name, found = result.events_found, created = result.events_created,
        updated = result.events_updated, deleted = result.events_deleted, "calendar synced");
    record(app, room, (state, result), Some(etag)).await
}

async fn unchanged(
    app: &App,
    room: &Room,
    previous: &IcsSyncState,
    at: DateTime<Utc>,
    etag: Option<String>,
) -> AppResult<SyncResult> {
    let mut state = previous.clone();
    state.last_status = Some(SyncStatus::Unchanged.as_str().into());
    state.last_error = None;
    state.last_attempt_at = Some(at);
    let result = SyncResult::only(SyncStatus::Unchanged, None);
    record(app, room, (state, result), Some(etag)).await
}

/// Stores the attempt's outcome; `synced` (the ETag to keep) when the feed was read.
async fn record(
    app: &App,
    room: &Room,
    (state, result): (IcsSyncState, SyncResult),
    synced: Option<Option<String>>,
) -> AppResult<SyncResult> {
    let at = state.last_attempt_at.unwrap_or_else(|| app.clock.now());
    app.store
        .record_ics_sync(
            &room.id,
            &state,
            synced.as_ref().map(|etag| (at, etag.as_deref())),
        )
        .await?;
    if let Some(error) = &result.error {
        tracing::warn!(room = %room.name, error, "calendar sync failed");
    }
    Ok(result)
}

/// Meetings made for events that moved or disappeared follow them, until they start: a moved
/// event's meeting moves with it, a removed event's meeting ends (if nobody is in it).
async fn follow_changes(app: &App, moved: &[String], removed: &[String]) {
    let now = app.clock.now();
    for event_id in moved {
        let (Ok(Some(event)), Ok(Some(meeting))) = (
            app.store.calendar_event(event_id).await,
            app.store.meeting_for_event(event_id).await,
        ) else {
            continue;
        };
        if !meeting.is_active || meeting.start_date <= now {
            continue;
        }
        let end = if event.end_time > event.start_time {
            event.end_time
        } else {
            event.start_time + chrono::Duration::hours(1)
        };
        if end > meeting.end_date
            && let Ok(platform) = app.platforms.get(meeting.platform.as_str())
        {
            match platform.extend_meeting(&(&meeting).into(), end).await {
                Ok(()) | Err(PlatformError::Unsupported { .. }) => {}
                Err(e) => {
                    tracing::warn!(meeting = %meeting.id, error = %e, "could not extend the provider room of a moved event");
                }
            }
        }
        if let Err(e) = app
            .store
            .move_meeting(
                &meeting.id,
                event.start_time,
                end,
                &calendar_metadata(&event),
            )
            .await
        {
            tracing::warn!(meeting = %meeting.id, error = %e, "could not move the meeting of a moved event");
        } else {
            tracing::info!(meeting = %meeting.id, start = %event.start_time, "meeting follows its moved event");
        }
    }
    for event_id in removed {
        if let Ok(Some(meeting)) = app.store.meeting_for_event(event_id).await
            && meeting.is_active
            && meeting.start_date > now
            && meeting.num_clients == 0
            && let Err(e) = end_meeting(app, &meeting, "its calendar event was removed").await
        {
            tracing::warn!(meeting = %meeting.id, error = %e, "could not end the meeting of a removed event");
        }
    }
}

/// Rooms whose feed is due: never fetched, or their interval has passed since the last attempt.
pub async fn due_rooms(app: &App) -> AppResult<Vec<String>> {
    let now = app.clock.now();
    Ok(app
        .store
        .ics_rooms()
        .await?
        .into_iter()
        .filter(|r| {
            let last = r.last_sync.max(r.last_attempt_at);
            last.is_none_or(|last| last + chrono::Duration::seconds(r.fetch_interval.max(1)) <= now)
        })
        .map(|r| r.room_id)
        .collect())
}

/// Makes the meeting of each event starting within (now − 6 min, now + 7 min] that has none.
/// One event's failure (its provider is down) does not keep the others from theirs; it is
/// tried again on the next run, and reported as the run's error.
pub async fn prepare_meetings(app: &App) -> AppResult<usize> {
    let now = app.clock.now();
    let due = app
        .store
        .events_needing_meetings(now - PREPARE_AFTER, now + PREPARE_BEFORE)
        .await?;
    let mut made = 0;
    let mut failure = None;
    for event in due {
        let Some(room) = app.store.room(&event.room_id).await? else {
            continue;
        };
        match create_for_event(app, &room, &event).await {
            Ok(meeting) => {
                made += 1;
                tracing::info!(room = %room.name, meeting = %meeting.id, event = %event.id, "meeting prepared for a calendar event");
            }
            Err(e) => {
                tracing::warn!(room = %room.name, event = %event.id, error = %e, "could not prepare the meeting of a calendar event");
                failure = Some(e);
            }
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(made),
    }
}

/// The time the scheduler will next sync a room, if it follows a calendar.
pub fn next_sync(room: &Room, last_attempt: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    if !follows_calendar(room) {
        return None;
    }
    let last = room.ics_last_sync.max(last_attempt)?;
    Some(last + chrono::Duration::seconds(room.ics_fetch_interval))
}
