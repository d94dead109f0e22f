// The typed API client. Types come from the server's OpenAPI document (`npm run gen` turns
// web/openapi.json into schema.d.ts; a Rust test keeps that file equal to the served one).
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";
import { accessToken, signedOut } from "../auth";

export type Room = components["schemas"]["RoomDetails"];
export type Meeting = components["schemas"]["MeetingView"];
export type Platform = components["schemas"]["PlatformInfo"];
export type Delivery = components["schemas"]["Delivery"];
export type WebhookTestResult = components["schemas"]["WebhookTestResult"];
export type CreateRoom = components["schemas"]["CreateRoom"];
export type UpdateRoom = components["schemas"]["UpdateRoom"];
export type Me = components["schemas"]["Me"];
export type OidcInfo = components["schemas"]["OidcInfo"];
export type RecordingType = components["schemas"]["RecordingType"];
export type RecordingTrigger = components["schemas"]["RecordingTrigger"];
export type RoomMode = components["schemas"]["RoomMode"];
export type SyncResult = components["schemas"]["SyncResultView"];
export type IcsStatus = components["schemas"]["IcsStatusView"];
export type CalendarEvent = components["schemas"]["CalendarEventView"];
export type Transcript = components["schemas"]["TranscriptView"];
export type TranscriptStatus = components["schemas"]["TranscriptStatus"];
export type SearchResult = components["schemas"]["SearchResult"];
export type Topic = components["schemas"]["Topic"];
export type Speaker = components["schemas"]["Participant"];

/** No request waits forever: creating a meeting may retry a slow provider for up to ~40 s. */
const TIMEOUT_MS = 60_000;

export const api = createClient<paths>({
  baseUrl: window.location.origin,
  // The caller's own signal (a request given up on) still aborts it, alongside the timeout.
  fetch: (request: Request) =>
    fetch(request, { signal: AbortSignal.any([request.signal, AbortSignal.timeout(TIMEOUT_MS)]) }),
});

// Every call carries the signed-in user's access token. A 401 for a call that carried one means
// the server no longer accepts it (expired, revoked, another key): sign this page out, so it
// loads again as an anonymous visitor and says so, instead of failing page by page.
api.use({
  onRequest({ request }) {
    const token = accessToken();
    if (token) request.headers.set("Authorization", `Bearer ${token}`);
    return request;
  },
  onResponse({ request, response }) {
    const sent = request.headers.get("Authorization");
    if (response.status === 401 && sent && sent === `Bearer ${accessToken()}`) {
      signedOut("You were signed out: the server no longer accepts your sign-in. Sign in again.");
    }
    return response;
  },
});

/** A failed API call: the HTTP status (0 when the server could not be reached) and the
 * server's `detail` text, which the pages show as it is. */
export class ApiError extends Error {
  readonly status: number;
  readonly detail: string;
  constructor(status: number, detail: string) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }
}

function detailOf(body: unknown, response: { status: number; statusText: string }): string {
  if (body && typeof body === "object" && "detail" in body) {
    const detail = (body as { detail: unknown }).detail;
    if (typeof detail === "string") return detail;
    return JSON.stringify(detail);
  }
  if (typeof body === "string" && body.trim() && !body.trimStart().startsWith("<")) return body;
  return `${response.status} ${response.statusText || "error"}`;
}

/** The [`ApiError`] of an answer read outside `openapi-fetch` (a media request, an upload):
 * its `detail` when the body is the server's JSON problem, else its text or status. */
export function errorOf(status: number, statusText: string, text: string): ApiError {
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: the text itself
  }
  return new ApiError(status, detailOf(body, { status, statusText }));
}

/** Resolves to the answer's data, or rejects with an [`ApiError`] carrying the server's detail. */
export async function call<T>(
  request: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await request;
  } catch (e) {
    if (e instanceof DOMException && e.name === "TimeoutError") {
      throw new ApiError(0, `The Reflector server did not answer within ${TIMEOUT_MS / 1000} s.`);
    }
    throw new ApiError(0, `Cannot reach the Reflector server (${e instanceof Error ? e.message : String(e)}).`);
  }
  if (!result.response.ok || result.error !== undefined) {
    throw new ApiError(result.response.status, detailOf(result.error, result.response));
  }
  return result.data as T;
}
