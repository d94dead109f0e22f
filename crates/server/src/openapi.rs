//! The OpenAPI 3 document served at `/openapi.json` (the web UI generates its types from it):
//! its info and schemas; the paths are added by the router from the route list.

use utoipa::OpenApi;

use crate::routes::{keys, meetings, rooms, system, webhooks};
use crate::views;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Reflector",
        description = "Self-hosted meetings: rooms, meetings on a video provider, recordings and transcripts."
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

/// The document's info and shared schemas; the paths come from the routes themselves
/// ([`crate::api_routes`]).
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
