//! A room's meetings, joining, consent, ending a meeting and starting its recording.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use governor::{DefaultKeyedRateLimiter, Quota};
use reflector_app::{AppError, AppResult, meetings};
use reflector_core::Meeting;
use reflector_platforms::{RecordingLayout, RecordingStarted, StartRecording};
use reflector_store::ConsentVote;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiJson, ApiResult};
use crate::routes::rooms::load_room_by_name;
use crate::state::HttpState;
use crate::views::{MeetingView, RecordingView};

async fn load_meeting(state: &HttpState, id: &str) -> AppResult<Meeting> {
    state
        .app
        .store
        .meeting(id)
        .await?
        .ok_or_else(|| AppError::NotFound("Meeting"))
}

/// The room's active meetings that have not ended, latest end first.
#[utoipa::path(get, path = "/v1/rooms/{room_name}/meetings/active", tag = "meetings", params(("room_name" = String, Path)),
    responses((status = 200, body = Vec<MeetingView>), (status = 404)))]
pub async fn active(
    State(state): State<HttpState>,
    caller: Caller,
    Path(room_name): Path<String>,
) -> ApiResult<Json<Vec<MeetingView>>> {
    let room = load_room_by_name(&state, &room_name).await?;
    let owner = caller.owns(&room);
    let meetings = state
        .app
        .store
        .open_meetings(&room.id, state.app.clock.now())
        .await?;
    Ok(Json(
        meetings
            .into_iter()
            .map(|m| MeetingView::new(m, owner))
            .collect(),
    ))
}

#[utoipa::path(get, path = "/v1/rooms/{room_name}/meetings/{meeting_id}", operation_id = "get_meeting", tag = "meetings", params(("room_name" = String, Path), ("meeting_id" = String, Path)),
    responses((status = 200, body = MeetingView), (status = 404)))]
pub async fn get(
    State(state): State<HttpState>,
    caller: Caller,
    Path((room_name, meeting_id)): Path<(String, String)>,
) -> ApiResult<Json<MeetingView>> {
    let room = load_room_by_name(&state, &room_name).await?;
    let meeting = meetings::room_meeting(&state.app, &room, &meeting_id).await?;
    Ok(Json(MeetingView::new(meeting, caller.owns(&room))))
}

/// The meeting with a `room_url` this caller can join with (a provider token where the provider
/// uses them).
#[utoipa::path(post, path = "/v1/rooms/{room_name}/meetings/{meeting_id}/join", tag = "meetings", params(("room_name" = String, Path), ("meeting_id" = String, Path)),
    responses((status = 200, body = MeetingView), (status = 400, description = "Meeting is not active / Meeting has ended"), (status = 404)))]
pub async fn join(
    State(state): State<HttpState>,
    caller: Caller,
    Path((room_name, meeting_id)): Path<(String, String)>,
) -> ApiResult<Json<MeetingView>> {
    let room = load_room_by_name(&state, &room_name).await?;
    let meeting = meetings::join(&state.app, &caller, &room, &meeting_id).await?;
    Ok(Json(MeetingView::new(meeting, caller.owns(&room))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    pub consent_given: bool,
    /// A token the browser generates once, so an anonymous participant can change their answer.
    pub participant_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentResponse {
    pub status: &'static str,
    pub consent_id: String,
}

/// Participants who may answer for one meeting: far above any call's size, so a flood of new
/// participant tokens cannot grow the table without bound.
pub const MAX_CONSENT_PARTICIPANTS: i64 = 1000;

/// Records a participant's answer to "may this meeting be recorded?"; the latest answer wins.
/// Only while the meeting is active; anonymous callers send their `participant_token`; rate
/// limited per meeting.
#[utoipa::path(post, path = "/v1/meetings/{meeting_id}/consent", tag = "meetings", params(("meeting_id" = String, Path)),
    request_body = ConsentRequest, responses((status = 200, body = ConsentResponse), (status = 400, description = "Meeting is not active"),
        (status = 404), (status = 409, description = "The meeting has its maximum of participants' answers"), (status = 422), (status = 429)))]
pub async fn consent(
    State(state): State<HttpState>,
    caller: Caller,
    Path(meeting_id): Path<String>,
    ApiJson(req): ApiJson<ConsentRequest>,
) -> ApiResult<Json<ConsentResponse>> {
    let token = req.participant_token.filter(|t| !t.trim().is_empty());
    if token.as_ref().is_some_and(|t| t.len() > 128) {
        return Err(
            AppError::invalid("participant_token", "must be at most 128 characters").into(),
        );
    }
    if token.is_none() && caller.user_id.is_none() {
        return Err(AppError::invalid(
            "participant_token",
            "is required when not signed in, so that your answer can be changed later",
        )
        .into());
    }
    let meeting = load_meeting(&state, &meeting_id).await?;
    if !meeting.is_open(state.app.clock.now()) {
        return Err(AppError::refused("Meeting is not active").into());
    }
    state.consents.check(&meeting.id)?;
    let consent_id = state
        .app
        .store
        .record_consent(
            &ConsentVote {
                meeting_id: &meeting.id,
                user_id: caller.user_id.as_deref(),
                participant_token: token.as_deref(),
                consent_given: req.consent_given,
                at: state.app.clock.now(),
            },
            MAX_CONSENT_PARTICIPANTS,
        )
        .await?
        .ok_or_else(|| {
            AppError::Conflict(format!(
                "This meeting already has answers from {MAX_CONSENT_PARTICIPANTS} participants"
            ))
        })?;
    Ok(Json(ConsentResponse {
        status: "success",
        consent_id,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeetingStatus {
    pub status: &'static str,
    pub meeting_id: String,
}

/// Ends a meeting (owner only) and expires its provider room where the provider allows.
#[utoipa::path(patch, path = "/v1/meetings/{meeting_id}/deactivate", tag = "meetings", params(("meeting_id" = String, Path)),
    responses((status = 200, body = MeetingStatus), (status = 401), (status = 403), (status = 404)))]
pub async fn deactivate(
    State(state): State<HttpState>,
    caller: Caller,
    Path(meeting_id): Path<String>,
) -> ApiResult<Json<MeetingStatus>> {
    // Ends it for us, expires the provider room where possible, and tells the room's webhook.
    let meeting = meetings::deactivate(&state.app, &caller, &meeting_id).await?;
    Ok(Json(MeetingStatus {
        status: "success",
        meeting_id: meeting.id,
    }))
}

/// A rate limit per meeting, refused with 429 and `detail`.
pub struct MeetingLimiter {
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
    detail: &'static str,
}

impl MeetingLimiter {
    /// Recording starts: providers allow about one per second, and a page starts at most two
    /// kinds at once.
    pub fn recording_starts() -> Self {
        Self::new(
            1,
            2,
            "Too many recording start requests for this meeting; try again in a second",
        )
    }

    /// Consent answers: everyone in a large call answering at once fits in the burst.
    pub fn consents() -> Self {
        Self::new(
            10,
            100,
            "Too many consent answers for this meeting; try again in a second",
        )
    }

    fn new(per_second: u32, burst: u32, detail: &'static str) -> Self {
        let quota = Quota::per_second(NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        Self {
            limiter: Arc::new(DefaultKeyedRateLimiter::keyed(quota)),
            detail,
        }
    }

    fn check(&self, meeting_id: &str) -> Result<(), AppError> {
        self.limiter.retain_recent();
        self.limiter
            .check_key(&meeting_id.to_owned())
            .map_err(|_| AppError::RateLimited {
                detail: self.detail.into(),
                retry_after: 1,
            })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRecordingRequest {
    /// `cloud` or `raw-tracks`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "instanceId")]
    pub instance_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StartRecordingResponse {
    /// `started`, or `already_active` when the recording was running.
    pub status: &'static str,
}

/// Starts the meeting's recording through the provider's API. Only for active meetings whose
/// recording type is `cloud`; in a locked room only its owner may; rate limited per meeting.
#[utoipa::path(post, path = "/v1/meetings/{meeting_id}/recordings/start", tag = "meetings", params(("meeting_id" = String, Path)),
    request_body = StartRecordingRequest,
    responses((status = 200, body = StartRecordingResponse), (status = 400), (status = 403), (status = 404), (status = 429)))]
pub async fn start_recording(
    State(state): State<HttpState>,
    caller: Caller,
    Path(meeting_id): Path<String>,
    ApiJson(req): ApiJson<StartRecordingRequest>,
) -> ApiResult<Json<StartRecordingResponse>> {
    let layout = match req.kind.as_str() {
        "cloud" => RecordingLayout::Composed,
        "raw-tracks" => RecordingLayout::Tracks,
        other => {
            return Err(AppError::invalid(
                "type",
                format!("unknown recording type {other:?}; expected cloud or raw-tracks"),
            )
            .into());
        }
    };
    let meeting = load_meeting(&state, &meeting_id).await?;
    if !meeting.is_open(state.app.clock.now()) {
        return Err(AppError::refused("Meeting is not active").into());
    }
    if meeting.recording_type != reflector_core::RecordingType::Cloud {
        return Err(AppError::refused("This meeting is not recorded to the cloud").into());
    }
    if meeting.is_locked {
        let room = state
            .app
            .store
            .room(&meeting.room_id)
            .await?
            .ok_or(AppError::NotFound("Room"))?;
        caller.require_owner(
            &room,
            "Only the room's owner may start recording in a locked room",
        )?;
    }
    state.recording_starts.check(&meeting.id)?;
    let platform = state.app.platforms.get(meeting.platform.as_str())?;
    let started = platform
        .start_recording(
            &(&meeting).into(),
            &StartRecording {
                layout,
                instance_id: &req.instance_id,
            },
        )
        .await?;
    Ok(Json(StartRecordingResponse {
        status: match started {
            RecordingStarted::Started => "started",
            RecordingStarted::AlreadyActive => "already_active",
        },
    }))
}

/// The meeting's recordings and where each stands (`pending`, `downloading`, `stored`, or
/// `error` with its `error` text); only the room's owner may list them.
#[utoipa::path(get, path = "/v1/meetings/{meeting_id}/recordings", tag = "meetings", params(("meeting_id" = String, Path)),
    responses((status = 200, body = Vec<RecordingView>), (status = 401), (status = 403), (status = 404)))]
pub async fn recordings(
    State(state): State<HttpState>,
    caller: Caller,
    Path(meeting_id): Path<String>,
) -> ApiResult<Json<Vec<RecordingView>>> {
    let meeting = load_meeting(&state, &meeting_id).await?;
    let room = state
        .app
        .store
        .room(&meeting.room_id)
        .await?
        .ok_or(AppError::NotFound("Meeting"))?;
    caller.require_owner(&room, "Only the room's owner may list its recordings")?;
    let recordings = state.app.store.meeting_recordings(&meeting.id).await?;
    Ok(Json(
        recordings.into_iter().map(RecordingView::new).collect(),
    ))
}
