//! `/v1/rooms`: create, read, change and delete rooms, and get a room's meeting.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use reflector_core::{PlatformName, RecordingTrigger, RecordingType, Room, RoomMode, RoomName};
use serde::{Deserialize, Deserializer};
use utoipa::{IntoParams, ToSchema};

use reflector_app::access::OWNER_ONLY;
use reflector_app::{AppError, AppResult, meetings};

use crate::auth::{Caller, new_webhook_secret};
use crate::error::{ApiJson, ApiResult, query_rejection};
use crate::state::HttpState;
use crate::views::{MeetingView, RoomDetails, RoomPage};

const MAX_TEXT: usize = 256;
const MAX_URL: usize = 2048;
const ICS_INTERVAL_RANGE: std::ops::RangeInclusive<i64> = 60..=7 * 24 * 3600;

/// A new room. Only `name` is required; the rest default as in the original API.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    pub name: String,
    #[serde(default)]
    pub zulip_auto_post: bool,
    #[serde(default)]
    pub zulip_stream: String,
    #[serde(default)]
    pub zulip_topic: String,
    #[serde(default)]
    pub is_locked: bool,
    #[serde(default)]
    pub room_mode: RoomMode,
    #[serde(default)]
    pub recording_type: RecordingType,
    #[serde(default)]
    pub recording_trigger: RecordingTrigger,
    #[serde(default)]
    pub is_shared: bool,
    pub webhook_url: Option<String>,
    /// Generated when a webhook URL is given without one.
    pub webhook_secret: Option<String>,
    pub ics_url: Option<String>,
    pub ics_fetch_interval: Option<i64>,
    #[serde(default)]
    pub ics_enabled: bool,
    /// Defaults to the server's default platform.
    pub platform: Option<String>,
    #[serde(default)]
    pub skip_consent: bool,
}

/// Changes to a room: only the fields sent change. Sending `webhook_url` without a secret keeps
/// the room's secret (or generates one if it has none); sending an empty `webhook_url` removes
/// the webhook and its secret.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRoom {
    pub name: Option<String>,
    pub zulip_auto_post: Option<bool>,
    pub zulip_stream: Option<String>,
    pub zulip_topic: Option<String>,
    pub is_locked: Option<bool>,
    pub room_mode: Option<RoomMode>,
    pub recording_type: Option<RecordingType>,
    pub recording_trigger: Option<RecordingTrigger>,
    pub is_shared: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub webhook_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub webhook_secret: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub ics_url: Option<Option<String>>,
    pub ics_fetch_interval: Option<i64>,
    pub ics_enabled: Option<bool>,
    pub platform: Option<String>,
    pub skip_consent: Option<bool>,
}

/// Tells "sent as null" (`Some(None)`) from "not sent" (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Pagination {
    /// 1-based page number.
    pub page: Option<i64>,
    /// Items per page, 1–100 (default 50).
    pub size: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMeetingRequest {
    /// Always create a new meeting instead of reusing the open one.
    #[serde(default)]
    pub allow_duplicated: bool,
}

fn text(field: &str, value: String) -> AppResult<String> {
    if value.chars().count() > MAX_TEXT {
        return Err(AppError::invalid(
            field,
            format!("must be at most {MAX_TEXT} characters"),
        ));
    }
    Ok(value)
}

/// An optional http(s) URL; empty counts as none.
fn optional_url(field: &str, value: Option<String>) -> AppResult<Option<String>> {
    let Some(raw) = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if raw.len() > MAX_URL {
        return Err(AppError::invalid(
            field,
            format!("must be at most {MAX_URL} characters"),
        ));
    }
    match url::Url::parse(&raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(Some(raw)),
        _ => Err(AppError::invalid(field, "must be an absolute http(s) URL")),
    }
}

fn room_name(raw: &str) -> AppResult<String> {
    RoomName::parse(raw)
        .map(|n| n.as_str().to_owned())
        .map_err(|e| AppError::invalid("name", e))
}

fn ics_interval(value: i64) -> AppResult<i64> {
    if ICS_INTERVAL_RANGE.contains(&value) {
        Ok(value)
    } else {
        Err(AppError::invalid(
            "ics_fetch_interval",
            format!(
                "must be between {} and {} seconds",
                ICS_INTERVAL_RANGE.start(),
                ICS_INTERVAL_RANGE.end()
            ),
        ))
    }
}

/// A platform a room may be set to: known (else 422) and configured (else 400 naming the setting).
fn platform(state: &HttpState, raw: &str) -> AppResult<PlatformName> {
    if !state.app.platforms.is_known(raw) {
        return Err(AppError::invalid(
            "platform",
            format!(
                "unknown value {raw:?}; expected one of: {}",
                state.app.platforms.known().join(", ")
            ),
        ));
    }
    state
        .app
        .platforms
        .get(raw)
        .map_err(|e| AppError::refused(e.to_string()))?;
    Ok(PlatformName::new(raw))
}

/// The secret that goes with a webhook URL: the given one, else the kept one, else a new one.
fn webhook_secret(
    url: &Option<String>,
    given: Option<String>,
    kept: Option<String>,
) -> AppResult<Option<String>> {
    if url.is_none() {
        return Ok(None);
    }
    let given = given.filter(|s| !s.trim().is_empty());
    if given.as_ref().is_some_and(|s| s.len() > MAX_TEXT) {
        return Err(AppError::invalid(
            "webhook_secret",
            format!("must be at most {MAX_TEXT} characters"),
        ));
    }
    Ok(Some(
        given
            .or(kept.filter(|s| !s.is_empty()))
            .unwrap_or_else(new_webhook_secret),
    ))
}

async fn load_room(state: &HttpState, id: &str) -> AppResult<Room> {
    state
        .app
        .store
        .room(id)
        .await?
        .ok_or_else(|| AppError::NotFound("Room"))
}

pub async fn load_room_by_name(state: &HttpState, name: &str) -> AppResult<Room> {
    state
        .app
        .store
        .room_by_name(name)
        .await?
        .ok_or_else(|| AppError::NotFound("Room"))
}

/// Own and shared rooms, newest first.
#[utoipa::path(get, path = "/v1/rooms", operation_id = "list_rooms", tag = "rooms", params(Pagination),
    responses((status = 200, body = RoomPage), (status = 401, description = "Not signed in (unless PUBLIC_MODE)")))]
pub async fn list(
    State(state): State<HttpState>,
    caller: Caller,
    query: Result<Query<Pagination>, QueryRejection>,
) -> ApiResult<Json<RoomPage>> {
    let Query(p) = query.map_err(query_rejection)?;
    super::may_list(&state, &caller)?;
    let (page, size, offset) = super::page_and_offset(p.page, p.size)?;
    let found = state
        .app
        .store
        .list_rooms(caller.user_id.as_deref(), size, offset)
        .await?;
    let items = found
        .items
        .into_iter()
        .map(|r| {
            let owner = caller.owns(&r);
            RoomDetails::new(r, owner)
        })
        .collect();
    Ok(Json(RoomPage {
        items,
        total: found.total,
        page,
        size,
        pages: (found.total + size - 1) / size,
    }))
}

#[utoipa::path(get, path = "/v1/rooms/{room_id}", operation_id = "get_room", tag = "rooms", params(("room_id" = String, Path)),
    responses((status = 200, body = RoomDetails), (status = 403), (status = 404)))]
pub async fn get(
    State(state): State<HttpState>,
    caller: Caller,
    Path(room_id): Path<String>,
) -> ApiResult<Json<RoomDetails>> {
    let room = load_room(&state, &room_id).await?;
    let owner = caller.owns(&room);
    if !owner && !room.is_shared {
        return Err(AppError::forbidden("This room is not shared with you").into());
    }
    Ok(Json(RoomDetails::new(room, owner)))
}

#[utoipa::path(get, path = "/v1/rooms/name/{room_name}", tag = "rooms", params(("room_name" = String, Path)),
    responses((status = 200, body = RoomDetails), (status = 404)))]
pub async fn get_by_name(
    State(state): State<HttpState>,
    caller: Caller,
    Path(room_name): Path<String>,
) -> ApiResult<Json<RoomDetails>> {
    let room = load_room_by_name(&state, &room_name).await?;
    let owner = caller.owns(&room);
    Ok(Json(RoomDetails::new(room, owner)))
}

#[utoipa::path(post, path = "/v1/rooms", operation_id = "create_room", tag = "rooms", request_body = CreateRoom,
    responses((status = 200, body = RoomDetails), (status = 400, description = "Room name is not unique"), (status = 422)))]
pub async fn create(
    State(state): State<HttpState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateRoom>,
) -> ApiResult<Json<RoomDetails>> {
    let user_id = caller.require()?.to_owned();
    let webhook_url = optional_url("webhook_url", req.webhook_url)?;
    let room = Room {
        id: uuid::Uuid::new_v4().to_string(),
        name: room_name(&req.name)?,
        user_id,
        created_at: state.app.clock.now(),
        zulip_auto_post: req.zulip_auto_post,
        zulip_stream: text("zulip_stream", req.zulip_stream)?,
        zulip_topic: text("zulip_topic", req.zulip_topic)?,
        is_locked: req.is_locked,
        room_mode: req.room_mode,
        recording_type: req.recording_type,
        recording_trigger: req.recording_trigger,
        is_shared: req.is_shared,
        webhook_secret: webhook_secret(&webhook_url, req.webhook_secret, None)?,
        webhook_url,
        ics_url: optional_url("ics_url", req.ics_url)?,
        ics_fetch_interval: ics_interval(req.ics_fetch_interval.unwrap_or(300))?,
        ics_enabled: req.ics_enabled,
        ics_last_sync: None,
        ics_last_etag: None,
        platform: match req.platform.as_deref() {
            Some(raw) => platform(&state, raw)?,
            None => state.app.platforms.default_platform().clone(),
        },
        skip_consent: req.skip_consent,
    };
    state.app.store.insert_room(&room).await?;
    Ok(Json(RoomDetails::new(room, true)))
}

#[utoipa::path(patch, path = "/v1/rooms/{room_id}", operation_id = "update_room", tag = "rooms", params(("room_id" = String, Path)), request_body = UpdateRoom,
    responses((status = 200, body = RoomDetails), (status = 403), (status = 404), (status = 422)))]
pub async fn update(
    State(state): State<HttpState>,
    caller: Caller,
    Path(room_id): Path<String>,
    ApiJson(req): ApiJson<UpdateRoom>,
) -> ApiResult<Json<RoomDetails>> {
    let mut room = load_room(&state, &room_id).await?;
    caller.require_owner(&room, OWNER_ONLY)?;
    if let Some(name) = req.name {
        room.name = room_name(&name)?;
    }
    if let Some(v) = req.zulip_auto_post {
        room.zulip_auto_post = v;
    }
    if let Some(v) = req.zulip_stream {
        room.zulip_stream = text("zulip_stream", v)?;
    }
    if let Some(v) = req.zulip_topic {
        room.zulip_topic = text("zulip_topic", v)?;
    }
    if let Some(v) = req.is_locked {
        room.is_locked = v;
    }
    if let Some(v) = req.room_mode {
        room.room_mode = v;
    }
    if let Some(v) = req.recording_type {
        room.recording_type = v;
    }
    if let Some(v) = req.recording_trigger {
        room.recording_trigger = v;
    }
    if let Some(v) = req.is_shared {
        room.is_shared = v;
    }
    if let Some(url) = req.webhook_url {
        room.webhook_url = optional_url("webhook_url", url)?;
    }
    room.webhook_secret = webhook_secret(
        &room.webhook_url,
        req.webhook_secret.flatten(),
        room.webhook_secret.take(),
    )?;
    if let Some(url) = req.ics_url {
        room.ics_url = optional_url("ics_url", url)?;
    }
    if let Some(v) = req.ics_fetch_interval {
        room.ics_fetch_interval = ics_interval(v)?;
    }
    if let Some(v) = req.ics_enabled {
        room.ics_enabled = v;
    }
    if let Some(raw) = req.platform.as_deref() {
        room.platform = platform(&state, raw)?;
    }
    if let Some(v) = req.skip_consent {
        room.skip_consent = v;
    }
    state.app.store.update_room(&room).await?;
    Ok(Json(RoomDetails::new(room, true)))
}

#[utoipa::path(delete, path = "/v1/rooms/{room_id}", operation_id = "delete_room", tag = "rooms", params(("room_id" = String, Path)),
    responses((status = 200, body = crate::views::Status), (status = 403), (status = 404)))]
pub async fn delete(
    State(state): State<HttpState>,
    caller: Caller,
    Path(room_id): Path<String>,
) -> ApiResult<Json<crate::views::Status>> {
    let room = load_room(&state, &room_id).await?;
    caller.require_owner(&room, OWNER_ONLY)?;
    state.app.store.delete_room(&room.id).await?;
    Ok(Json(crate::views::Status { status: "ok" }))
}

/// Gets the room's open meeting, or creates one on its video platform. Anyone may call it;
/// `allow_duplicated` only the owner (and, in a shared calendar room, signed-in users).
#[utoipa::path(post, path = "/v1/rooms/{room_name}/meeting", tag = "rooms", params(("room_name" = String, Path)),
    request_body(content = Option<CreateMeetingRequest>),
    responses((status = 200, body = MeetingView), (status = 401), (status = 403, description = "allow_duplicated by someone who may not"),
        (status = 404), (status = 409, description = "The room has its maximum of open meetings"),
        (status = 429, description = "Too many meetings started in this room just now"),
        (status = 502, description = "The provider failed"),
        (status = 503, description = "The platform is not configured or unavailable, or another request is still creating the meeting")))]
pub async fn meeting(
    State(state): State<HttpState>,
    caller: Caller,
    Path(room_name): Path<String>,
    body: Option<ApiJson<CreateMeetingRequest>>,
) -> ApiResult<Json<MeetingView>> {
    let req = body.map(|ApiJson(b)| b).unwrap_or_default();
    let (room, meeting) =
        meetings::get_or_create(&state.app, &caller, &room_name, req.allow_duplicated).await?;
    Ok(Json(MeetingView::new(meeting, caller.owns(&room))))
}
