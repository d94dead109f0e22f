//! Transcripts (SPEC §4): list, search, one transcript in four formats, its topics and
//! participants, the owner's edits, deletion, re-processing and the audio; and a file made
//! elsewhere uploaded in chunks (create, then `record/upload`), as the original does.

use axum::Json;
use axum::body::Body;
use axum::extract::FromRequest;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use reflector_app::{AppError, transcripts, uploads};
use reflector_core::transcript::{
    Participant, Segment, ShareMode, SourceKind, Topic, TranscriptStatus, plain_text,
    timestamped_text, webvtt,
};
use reflector_store::{Transcript, TranscriptFilter, TranscriptPatch};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiResult, query_rejection};
use crate::state::HttpState;

/// A transcript's metadata (the original's `GetTranscript` fields where it has them).
#[derive(Debug, Serialize, ToSchema)]
pub struct TranscriptView {
    pub id: String,
    pub user_id: Option<String>,
    pub name: String,
    pub status: TranscriptStatus,
    pub locked: bool,
    /// Milliseconds.
    pub duration: Option<i64>,
    pub title: Option<String>,
    pub short_summary: Option<String>,
    pub long_summary: Option<String>,
    pub created_at: String,
    pub share_mode: ShareMode,
    pub source_language: String,
    pub target_language: String,
    pub reviewed: bool,
    pub meeting_id: Option<String>,
    pub source_kind: SourceKind,
    pub room_id: Option<String>,
    pub room_name: Option<String>,
    pub audio_deleted: bool,
    pub participants: Vec<Participant>,
    /// Why processing failed, when `status` is `error`.
    pub error: Option<String>,
}

fn iso(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn view(state: &HttpState, t: Transcript) -> ApiResult<TranscriptView> {
    let room_name = match &t.room_id {
        Some(r) => state.app.store.room(r).await?.map(|r| r.name),
        None => None,
    };
    Ok(TranscriptView {
        id: t.id,
        user_id: t.user_id,
        name: t.name,
        status: t.status,
        locked: false,
        duration: t.duration,
        title: t.title,
        short_summary: t.short_summary,
        long_summary: t.long_summary,
        created_at: iso(t.created_at),
        share_mode: t.share_mode,
        source_language: t.source_language,
        target_language: t.target_language,
        reviewed: false,
        meeting_id: t.meeting_id,
        source_kind: t.source_kind,
        room_id: t.room_id,
        room_name,
        audio_deleted: t.audio_deleted,
        participants: t.participants,
        error: t.error,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1-based page number.
    pub page: Option<i64>,
    /// Items per page, 1–100 (default 50).
    pub size: Option<i64>,
    pub room_id: Option<String>,
    pub source_kind: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TranscriptPage {
    pub items: Vec<TranscriptView>,
    pub total: i64,
    pub page: i64,
    pub size: i64,
    pub pages: i64,
}

fn source_kind(raw: Option<&str>) -> ApiResult<Option<SourceKind>> {
    raw.filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<SourceKind>()
                .map_err(|e| AppError::invalid("source_kind", e).into())
        })
        .transpose()
}

fn filter(caller: &Caller, room_id: Option<String>, kind: Option<SourceKind>) -> TranscriptFilter {
    TranscriptFilter {
        user_id: caller.user_id.clone(),
        room_id: room_id.filter(|r| !r.is_empty()),
        source_kind: kind,
    }
}

/// The transcripts the caller may read, newest first.
#[utoipa::path(get, path = "/v1/transcripts", operation_id = "list_transcripts", tag = "transcripts", params(ListQuery),
    responses((status = 200, body = TranscriptPage), (status = 401), (status = 422)))]
pub async fn list(
    State(state): State<HttpState>,
    caller: Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<TranscriptPage>> {
    let Query(q) = query.map_err(query_rejection)?;
    super::may_list(&state, &caller)?;
    let (page, size, offset) = super::page_and_offset(q.page, q.size)?;
    let kind = source_kind(q.source_kind.as_deref())?;
    let found = state
        .app
        .store
        .list_transcripts(&filter(&caller, q.room_id, kind), size, offset)
        .await?;
    let mut items = Vec::with_capacity(found.items.len());
    for t in found.items {
        items.push(view(&state, t).await?);
    }
    Ok(Json(TranscriptPage {
        items,
        total: found.total,
        page,
        size,
        pages: (found.total + size - 1) / size,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Words to find in titles, summaries and what was said.
    pub q: String,
    /// 1–100 (default 20).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub room_id: Option<String>,
    pub source_kind: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResult {
    pub id: String,
    pub title: Option<String>,
    pub room_id: Option<String>,
    pub room_name: Option<String>,
    pub source_kind: SourceKind,
    pub created_at: String,
    pub status: TranscriptStatus,
    pub rank: f64,
    pub duration: Option<i64>,
    /// Fragments around the matches; matched words are wrapped in `<mark>`…`</mark>` and the
    /// rest is the transcript's text as is (escape it before showing it as HTML).
    pub search_snippets: Vec<String>,
    pub total_match_count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResponse {
    pub results: Vec<SearchResult>,
    pub total: i64,
    pub query: String,
    pub limit: i64,
    pub offset: i64,
}

/// Full-text search, best match first (SQLite FTS5 / PostgreSQL full-text, both stemmed).
#[utoipa::path(get, path = "/v1/transcripts/search", operation_id = "search_transcripts", tag = "transcripts", params(SearchQuery),
    responses((status = 200, body = SearchResponse), (status = 401), (status = 422)))]
pub async fn search(
    State(state): State<HttpState>,
    caller: Caller,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> ApiResult<Json<SearchResponse>> {
    let Query(q) = query.map_err(query_rejection)?;
    super::may_list(&state, &caller)?;
    let limit = q.limit.unwrap_or(20);
    let offset = q.offset.unwrap_or(0);
    if !(1..=100).contains(&limit) {
        return Err(AppError::invalid("limit", "must be between 1 and 100").into());
    }
    if offset < 0 {
        return Err(AppError::invalid("offset", "must not be negative").into());
    }
    if q.q.trim().is_empty() {
        return Err(AppError::invalid("q", "must not be empty").into());
    }
    if q.q.chars().count() > 500 {
        return Err(AppError::invalid("q", "must be at most 500 characters").into());
    }
    let kind = source_kind(q.source_kind.as_deref())?;
    let found = state
        .app
        .store
        .search_transcripts(&q.q, &filter(&caller, q.room_id, kind), limit, offset)
        .await?;
    let mut results = Vec::with_capacity(found.hits.len());
    for hit in found.hits {
        let matches = hit
            .snippets
            .iter()
            .map(|s| s.matches("<mark>").count())
            .sum::<usize>();
        let t = view(&state, hit.transcript).await?;
        results.push(SearchResult {
            id: t.id,
            title: t.title.or(Some(t.name)),
            room_id: t.room_id,
            room_name: t.room_name,
            source_kind: t.source_kind,
            created_at: t.created_at,
            status: t.status,
            rank: hit.rank,
            duration: t.duration,
            search_snippets: hit.snippets,
            total_match_count: i64::try_from(matches).unwrap_or(i64::MAX),
        });
    }
    Ok(Json(SearchResponse {
        results,
        total: found.total,
        query: q.q,
        limit,
        offset,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// `text` (the default, as in the original), `text-timestamped`, `webvtt-named` or `json`.
    pub transcript_format: Option<String>,
}

/// A transcript with its text in one of four formats (`text` unless asked otherwise).
#[derive(Debug, Serialize, ToSchema)]
pub struct TranscriptWithText {
    #[serde(flatten)]
    pub meta: TranscriptView,
    pub transcript_format: Option<String>,
    /// A string for the text formats, the segments for `json`.
    #[schema(value_type = Object)]
    pub transcript: Option<serde_json::Value>,
}

#[utoipa::path(get, path = "/v1/transcripts/{transcript_id}", operation_id = "get_transcript", tag = "transcripts",
    params(("transcript_id" = String, Path), FormatQuery),
    responses((status = 200, body = TranscriptWithText), (status = 404), (status = 422)))]
pub async fn get(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<FormatQuery>, QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let Query(q) = query.map_err(query_rejection)?;
    let t = transcripts::visible(&state.app, &caller, &id).await?;
    let segments: Vec<Segment> = t.segments.clone();
    let people = t.participants.clone();
    let format = q.transcript_format.unwrap_or_else(|| "text".to_owned());
    let text = match format.as_str() {
        "text" => serde_json::json!(plain_text(&segments, &people)),
        "text-timestamped" => serde_json::json!(timestamped_text(&segments, &people)),
        "webvtt-named" => serde_json::json!(
            t.webvtt
                .clone()
                .unwrap_or_else(|| webvtt(&segments, &people))
        ),
        "json" => serde_json::json!(
            segments
                .iter()
                .map(|s| serde_json::json!({
                    "speaker": s.speaker,
                    "speaker_name": reflector_core::transcript::speaker_name(&people, s.speaker),
                    "text": s.text,
                    "start": s.start,
                    "end": s.end,
                }))
                .collect::<Vec<_>>()
        ),
        other => {
            return Err(AppError::invalid(
                "transcript_format",
                format!("{other:?} is not one of text, text-timestamped, webvtt-named, json"),
            )
            .into());
        }
    };
    let mut body = serde_json::to_value(view(&state, t).await?).unwrap_or_default();
    if let Some(fields) = body.as_object_mut() {
        fields.insert("transcript_format".into(), format.into());
        fields.insert("transcript".into(), text);
    }
    Ok(Json(body))
}

#[utoipa::path(get, path = "/v1/transcripts/{transcript_id}/topics", operation_id = "transcript_topics", tag = "transcripts",
    params(("transcript_id" = String, Path)), responses((status = 200, body = Vec<Topic>), (status = 404)))]
pub async fn topics(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Topic>>> {
    Ok(Json(
        transcripts::visible(&state.app, &caller, &id).await?.topics,
    ))
}

#[utoipa::path(get, path = "/v1/transcripts/{transcript_id}/participants", operation_id = "transcript_participants", tag = "transcripts",
    params(("transcript_id" = String, Path)), responses((status = 200, body = Vec<Participant>), (status = 404)))]
pub async fn participants(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Participant>>> {
    Ok(Json(
        transcripts::visible(&state.app, &caller, &id)
            .await?
            .participants,
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchTranscript {
    pub name: Option<String>,
    pub title: Option<String>,
    pub short_summary: Option<String>,
    pub long_summary: Option<String>,
    pub share_mode: Option<String>,
}

fn bounded(field: &str, value: Option<String>, max: usize) -> ApiResult<Option<String>> {
    match value {
        Some(v) if v.chars().count() > max => {
            Err(AppError::invalid(field, format!("must be at most {max} characters")).into())
        }
        v => Ok(v),
    }
}

#[utoipa::path(patch, path = "/v1/transcripts/{transcript_id}", operation_id = "update_transcript", tag = "transcripts",
    params(("transcript_id" = String, Path)), request_body = PatchTranscript,
    responses((status = 200, body = TranscriptView), (status = 403), (status = 404), (status = 422)))]
pub async fn update(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PatchTranscript>,
) -> ApiResult<Json<TranscriptView>> {
    transcripts::owned(&state.app, &caller, &id).await?;
    let share_mode = body
        .share_mode
        .as_deref()
        .map(|m| {
            m.parse::<ShareMode>()
                .map_err(|e| AppError::invalid("share_mode", e))
        })
        .transpose()?;
    let patch = TranscriptPatch {
        name: bounded("name", body.name, 300)?,
        title: bounded("title", body.title, 300)?,
        short_summary: bounded("short_summary", body.short_summary, 10_000)?,
        long_summary: bounded("long_summary", body.long_summary, 100_000)?,
        share_mode,
    };
    let updated = state
        .app
        .store
        .patch_transcript(&id, &patch, state.app.clock.now())
        .await?
        .ok_or(AppError::NotFound("Transcript"))?;
    Ok(Json(view(&state, updated).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusOk {
    pub status: &'static str,
}

#[utoipa::path(delete, path = "/v1/transcripts/{transcript_id}", operation_id = "delete_transcript", tag = "transcripts",
    params(("transcript_id" = String, Path)), responses((status = 200, body = StatusOk), (status = 403), (status = 404)))]
pub async fn delete(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<StatusOk>> {
    transcripts::delete(&state.app, &caller, &id).await?;
    Ok(Json(StatusOk { status: "ok" }))
}

/// Runs the pipeline again on the same transcript (owner only).
#[utoipa::path(post, path = "/v1/transcripts/{transcript_id}/process", operation_id = "process_transcript", tag = "transcripts",
    params(("transcript_id" = String, Path)), responses((status = 200, body = StatusOk), (status = 400), (status = 403), (status = 404)))]
pub async fn process(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<StatusOk>> {
    transcripts::reprocess(&state.app, &caller, &id).await?;
    Ok(Json(StatusOk { status: "ok" }))
}

/// The recording's original media, streamed (404 `Audio unavailable due to privacy settings`
/// once it was deleted for consent).
#[utoipa::path(get, path = "/v1/transcripts/{transcript_id}/audio/mp3", operation_id = "transcript_audio", tag = "transcripts",
    params(("transcript_id" = String, Path)), responses((status = 200, description = "The audio"), (status = 404)))]
pub async fn audio(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let audio = transcripts::audio(&state.app, &caller, &id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, audio.content_type.to_owned()),
            (header::CONTENT_LENGTH, audio.size.to_string()),
        ],
        Body::from_stream(audio.body),
    )
        .into_response())
}

/// A transcript for a file made elsewhere (`source_kind` `file`), waiting for its upload.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateTranscript {
    pub name: String,
    /// Default `en`.
    pub source_language: Option<String>,
    /// Default `en`.
    pub target_language: Option<String>,
}

/// Creates an `idle` transcript owned by the caller; send its file to
/// `POST /v1/transcripts/{transcript_id}/record/upload`. Answers the transcript as `GET` does.
#[utoipa::path(post, path = "/v1/transcripts", operation_id = "create_transcript", tag = "transcripts",
    request_body = CreateTranscript,
    responses((status = 200, body = TranscriptView), (status = 401), (status = 422)))]
pub async fn create(
    State(state): State<HttpState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateTranscript>,
) -> ApiResult<Json<TranscriptView>> {
    let t = uploads::create(
        &state.app,
        &caller,
        uploads::NewUpload {
            name: body.name,
            source_language: body.source_language,
            target_language: body.target_language,
        },
    )
    .await?;
    Ok(Json(view(&state, t).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// This chunk's number, from 0; chunks are sent in order, one at a time.
    pub chunk_number: i64,
    /// How many chunks the file is cut into (the same with every chunk).
    pub total_chunks: i64,
}

/// One chunk of the file, as `multipart/form-data`.
#[derive(Debug, ToSchema)]
pub struct UploadChunkForm {
    /// The chunk's bytes (its file name's extension names the stored file).
    #[schema(value_type = String, format = Binary)]
    pub chunk: Vec<u8>,
}

/// Room for the multipart framing around a chunk when its request's length is checked.
const MULTIPART_FRAMING: u64 = 64 * 1024;

fn malformed(e: MultipartError, max: u64) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        return uploads::too_large(max).into();
    }
    AppError::invalid(
        "chunk",
        format!("the multipart body could not be read: {}", e.body_text()),
    )
    .into()
}

/// Receives chunk `chunk_number` of `total_chunks` of the transcript's file (owner only),
/// streamed to disk; after the last one the file is checked for audio, stored, and the
/// transcript goes `uploaded` with its pipeline queued (then `processing`, `ended` or `error`).
/// 409: a chunk out of order or sent twice (the detail names the next one expected), another
/// chunk of this transcript being received, or a transcript that has its file already;
/// 413: a chunk over `UPLOAD_CHUNK_MAX_BYTES` (send it again, smaller), or one that takes the
/// file past `UPLOAD_MAX_BYTES` (4 GiB by default); 422: bad numbers, no
/// `chunk` field, or a file without audio (the upload starts again from chunk 0).
#[utoipa::path(post, path = "/v1/transcripts/{transcript_id}/record/upload", operation_id = "upload_transcript_chunk", tag = "transcripts",
    params(("transcript_id" = String, Path), UploadQuery),
    request_body(content = UploadChunkForm, content_type = "multipart/form-data"),
    responses((status = 200, body = StatusOk), (status = 401), (status = 403), (status = 404), (status = 409),
        (status = 413), (status = 422), (status = 503)))]
pub async fn upload(
    State(state): State<HttpState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<UploadQuery>, QueryRejection>,
    request: axum::extract::Request,
) -> Response {
    match receive(&state, &caller, &id, query, request).await {
        Ok(()) => Json(StatusOk { status: "ok" }).into_response(),
        Err(e) => {
            // A refused chunk's body is left unread, so the connection cannot carry another
            // request: say so, or the client would send its next one into a closed socket.
            let mut response = e.into_response();
            response.headers_mut().insert(
                header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            response
        }
    }
}

async fn receive(
    state: &HttpState,
    caller: &Caller,
    id: &str,
    query: Result<Query<UploadQuery>, QueryRejection>,
    request: axum::extract::Request,
) -> ApiResult<()> {
    // Whoever may not see the transcript learns nothing else about the request.
    transcripts::owned(&state.app, caller, id).await?;
    let Query(q) = query.map_err(query_rejection)?;
    let max = state.settings.limits.upload_chunk_max_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max.saturating_add(MULTIPART_FRAMING)) {
        // Read what was sent, when that is not much more than a chunk may be: a client still
        // writing its body into a closed connection would see a broken pipe, not this answer.
        if declared
            .is_some_and(|len| len <= max.saturating_add(MULTIPART_FRAMING).saturating_mul(2))
        {
            let mut body = request.into_body();
            while let Some(Ok(_)) = body.frame().await {}
        }
        return Err(uploads::too_large(max).into());
    }
    // The whole body is bounded too (the multipart reader buffers what precedes a boundary):
    // the chunk and its framing. The chunk itself is counted as it is written.
    let (parts, body) = request.into_parts();
    let bound = usize::try_from(max.saturating_add(MULTIPART_FRAMING)).unwrap_or(usize::MAX);
    let limited = axum::body::Body::new(http_body_util::Limited::new(body, bound));
    let form: Result<Multipart, MultipartRejection> =
        Multipart::from_request(axum::extract::Request::from_parts(parts, limited), &()).await;
    let mut form = form.map_err(|e| {
        AppError::invalid(
            "chunk",
            format!(
                "send the chunk as multipart/form-data with a file field named chunk ({})",
                e.body_text()
            ),
        )
    })?;
    let received = receive_chunk(state, caller, id, &q, max, &mut form).await;
    if received.is_err() {
        // The rest of a refused chunk is read (the whole body is bounded above), so that the
        // client, still sending, gets the answer rather than a broken pipe.
        while let Ok(Some(mut field)) = form.next_field().await {
            while let Ok(Some(_)) = field.chunk().await {}
        }
    }
    received
}

/// Writes the form's one `chunk` field as chunk `q.chunk_number`, then records it.
async fn receive_chunk(
    state: &HttpState,
    caller: &Caller,
    id: &str,
    q: &UploadQuery,
    max: u64,
    form: &mut Multipart,
) -> ApiResult<()> {
    let limits = uploads::UploadLimits {
        chunk: max,
        file: state.settings.limits.upload_max_bytes,
    };
    let mut chunk = uploads::begin(
        &state.app,
        caller,
        id,
        q.chunk_number,
        q.total_chunks,
        limits,
    )
    .await?;
    let Some(mut field) = form.next_field().await.map_err(|e| malformed(e, max))? else {
        return Err(AppError::invalid("chunk", "the form has no field named chunk").into());
    };
    if field.name() != Some("chunk") {
        let name = field.name().unwrap_or_default().to_owned();
        return Err(AppError::invalid(
            "chunk",
            format!("unexpected form field {name:?}: send one file field named chunk"),
        )
        .into());
    }
    let file_name = field.file_name().map(str::to_owned);
    while let Some(bytes) = field.chunk().await.map_err(|e| malformed(e, max))? {
        chunk.write(&bytes).await?;
    }
    drop(field);
    // The rest of the body (its closing boundary) is read; another field is refused.
    if let Some(extra) = form.next_field().await.map_err(|e| malformed(e, max))? {
        let name = extra.name().unwrap_or_default().to_owned();
        return Err(AppError::invalid(
            "chunk",
            format!("unexpected form field {name:?}: send one file field named chunk"),
        )
        .into());
    }
    chunk.finish(&state.app, file_name.as_deref()).await?;
    Ok(())
}
