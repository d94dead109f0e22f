//! The OpenAPI 3 document served at `/openapi.json` (the web UI generates its types from it).

use axum::Json;
use utoipa::OpenApi;

use crate::routes::{keys, meetings, rooms, system, webhooks};
use crate::views;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Reflector",
        description = "Self-hosted meetings: rooms, meetings on Whereby, Daily.co or the mock provider."
    ),
    paths(
        rooms::list,
        rooms::get,
        rooms::get_by_name,
        rooms::create,
        rooms::update,
        rooms::delete,
        rooms::meeting,
        meetings::active,
        meetings::get,
        meetings::join,
        meetings::consent,
        meetings::deactivate,
        meetings::start_recording,
        webhooks::deliveries,
        webhooks::test,
        keys::create,
        keys::list,
        keys::delete,
        system::health,
        system::me,
        system::platforms,
    ),
    components(schemas(
        views::RoomDetails,
        views::RoomPage,
        views::MeetingView,
        views::Status,
        webhooks::Delivery,
        webhooks::WebhookTestResult,
        rooms::CreateRoom,
        rooms::UpdateRoom,
        rooms::CreateMeetingRequest,
        meetings::ConsentRequest,
        meetings::ConsentResponse,
        meetings::MeetingStatus,
        meetings::StartRecordingRequest,
        meetings::StartRecordingResponse,
        keys::CreateApiKey,
        keys::ApiKeyView,
        keys::CreatedApiKey,
        system::Me,
        system::OidcInfo,
        system::PlatformInfo,
        reflector_core::RoomMode,
        reflector_core::RecordingType,
        reflector_core::RecordingTrigger,
    ))
)]
struct ApiDoc;

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
