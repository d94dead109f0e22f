// Starting a Daily cloud recording from the browser (SPEC §3.3): the server accepts only the
// instance ids derived from the meeting, so two browsers starting "the" recording of one kind
// start the same one.
import { v5 as uuidv5 } from "uuid";
import { api, call } from "./api/client";

const RAW_TRACKS_NAMESPACE = "a1b2c3d4-e5f6-7890-abcd-ef1234567890";

export function instanceId(meetingId: string, kind: "cloud" | "raw-tracks"): string {
  return kind === "cloud" ? meetingId : uuidv5(meetingId, RAW_TRACKS_NAMESPACE);
}

export async function startRecording(meetingId: string, kind: "cloud" | "raw-tracks") {
  return call(
    api.POST("/v1/meetings/{meeting_id}/recordings/start", {
      params: { path: { meeting_id: meetingId } },
      body: { type: kind, instanceId: instanceId(meetingId, kind) },
    }),
  );
}
