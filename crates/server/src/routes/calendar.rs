//! A room's calendar (SPEC §4, §7): syncing its ICS feed now, the sync status, and its calendar
//! events (all, or the upcoming ones). Only the owner syncs and sees the status; anyone may
//! list the events, without their description and attendees unless they own the room.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use reflector_app::access::OWNER_ONLY;
use reflector_app::{AppError, calendar};
use reflector_store::CalendarEvent;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::{ApiResult, query_rejection};
use crate::routes::rooms::load_room_by_name;
use crate::state::HttpState;

/// What a sync did. `status` is `success`, `unchanged` (304, or the same content as last
/// time), `error` (see `error`; nothing was changed) or `skipped` (another sync was running).
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncResultView {
    pub status: String,
    /// Occurrences in the feed that belong to this room within the next 24 hours (and the last hour).
    pub events_found: usize,
    /// Events in the whole feed.
    pub total_events: usize,
    pub events_created: usize,
    pub events_updated: usize,
    pub events_deleted: usize,
    pub error: Option<String>,
}

/// The room's calendar sync. `status` is `enabled` or `disabled`; `last_sync_status` and
/// `last_error` describe the last attempt (additions to the original API).
#[derive(Debug, Serialize, ToSchema)]
pub struct IcsStatusView {
    pub status: &'static str,
    pub last_sync: Option<DateTime<Utc>>,
    pub next_sync: Option<DateTime<Utc>>,
    pub last_etag: Option<String>,
    pub events_count: i64,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_sync_status: Option<String>,
    pub last_error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttendeeView {
    pub email: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
    pub role: Option<String>,
}

/// A calendar event. `description` and `attendees` are null unless the caller owns the room.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarEventView {
    pub id: String,
    pub room_id: String,
    pub ics_uid: String,
    /// The occurrence's original start, for occurrences of a recurring series.
    pub recurrence_id: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub attendees: Option<Vec<AttendeeView>>,
    pub location: Option<String>,
    pub last_synced: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CalendarEventView {
    fn new(e: CalendarEvent, is_owner: bool) -> Self {
        Self {
            description: e.description.filter(|_| is_owner),
            attendees: is_owner.then(|| serde_json::from_value(e.attendees).unwrap_or_default()),
            id: e.id,
            room_id: e.room_id,
            ics_uid: e.ics_uid,
            recurrence_id: e.recurrence_id,
            title: e.title,
            start_time: e.start_time,
            end_time: e.end_time,
            location: e.location,
            last_synced: e.last_synced,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// Fetches the room's feed now, whatever its interval (owner only).
#[utoipa::path(post, path = "/v1/rooms/{room_name}/ics/sync", tag = "calendar", params(("room_name" = String, Path)),
    responses((status = 200, body = SyncResultView), (status = 400, description = "ICS is not configured for this room"),
        (status = 401), (status = 403), (status = 404)))]
pub async fn sync(
    State(state): State<HttpState>,
    caller: Caller,
    Path(room_name): Path<String>,
) -> ApiResult<Json<SyncResultView>> {
    let room = load_room_by_name(&state, &room_name).await?;
    caller.require_owner(&room, OWNER_ONLY)?;
    let r = calendar::sync_room(&state.app, &room).await?;
    Ok(Json(SyncResultView {
        status: r.status.as_str().to_owned(),
        events_found: r.events_found,
        total_events: r.total_events,
        events_created: r.events_created,
        events_updated: r.events_updated,
        events_deleted: r.events_deleted,
        error: r.error,
    }))
}

#[utoipa::path(get, path = "/v1/rooms/{room_name}/ics/status", tag = "calendar", params(("room_name" = String, Path)),
    responses((status = 200, body = IcsStatusView), (status = 401), (status = 403), (status = 404)))]
pub async fn status(
    State(state): State<HttpState>,
    caller: Caller,
    Path(room_name): Path<String>,
) -> ApiResult<Json<IcsStatusView>> {
    let room = load_room_by_name(&state, &room_name).await?;
    caller.require_owner(&room, OWNER_ONLY)?;
    let sync = state.app.store.ics_sync_state(&room.id).await?;
    let events_count = state.app.store.count_room_calendar_events(&room.id).await?;
    Ok(Json(IcsStatusView {
        status: if room.ics_enabled {
            "enabled"
        } else {
            "disabled"
        },
        next_sync: calendar::next_sync(&room, sync.last_attempt_at),
        last_sync: room.ics_last_sync,
        last_etag: room.ics_last_etag,
        events_count,
        last_attempt: sync.last_attempt_at,
        last_sync_status: sync.last_status,
        last_error: sync.last_error,
    }))
}

/// The room's calendar events that are not deleted, start ascending.
#[utoipa::path(get, path = "/v1/rooms/{room_name}/meetings", operation_id = "list_calendar_events", tag = "calendar", params(("room_name" = String, Path)),
    responses((status = 200, body = Vec<CalendarEventView>), (status = 404)))]
pub async fn events(
    State(state): State<HttpState>,
    caller: Caller,
    Path(room_name): Path<String>,
) -> ApiResult<Json<Vec<CalendarEventView>>> {
    let room = load_room_by_name(&state, &room_name).await?;
    let owner = caller.owns(&room);
    let events = state.app.store.room_calendar_events(&room.id).await?;
    Ok(Json(
        events
            .into_iter()
            .map(|e| CalendarEventView::new(e, owner))
            .collect(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Upcoming {
    /// Events starting within this many minutes (default 120, at most 7 days), or running now.
    pub minutes_ahead: Option<i64>,
}

/// The room's events that are running now or start within `minutes_ahead`, start ascending.
#[utoipa::path(get, path = "/v1/rooms/{room_name}/meetings/upcoming", operation_id = "upcoming_calendar_events", tag = "calendar",
    params(("room_name" = String, Path), Upcoming),
    responses((status = 200, body = Vec<CalendarEventView>), (status = 404), (status = 422)))]
pub async fn upcoming(
    State(state): State<HttpState>,
    caller: Caller,
    Path(room_name): Path<String>,
    query: Result<Query<Upcoming>, QueryRejection>,
) -> ApiResult<Json<Vec<CalendarEventView>>> {
    let Query(q) = query.map_err(query_rejection)?;
    let minutes = q.minutes_ahead.unwrap_or(120);
    if !(0..=7 * 24 * 60).contains(&minutes) {
        return Err(AppError::invalid("minutes_ahead", "must be between 0 and 10080").into());
    }
    let room = load_room_by_name(&state, &room_name).await?;
    let owner = caller.owns(&room);
    let now = state.app.clock.now();
    let events = state
        .app
        .store
        .upcoming_calendar_events(&room.id, now, now + chrono::Duration::minutes(minutes))
        .await?;
    Ok(Json(
        events
            .into_iter()
            .map(|e| CalendarEventView::new(e, owner))
            .collect(),
    ))
}
