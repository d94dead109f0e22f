// Starting a Daily meeting's cloud recordings from the browser. Only Daily's calls do this: the
// other providers record without us (Whereby) or not at all (mock), and the server refuses a
// start for them.
import { v5 as uuidv5 } from "uuid";
import { api, call } from "../../api/client";
import { asApiError } from "../../hooks";

type Kind = "cloud" | "raw-tracks";
/** Per kind: not asked yet (or worth asking again), being asked, or settled for this page. */
export type Starts = Record<Kind, "idle" | "starting" | "settled">;

/** SPEC §3.3: the server accepts only the instance ids derived from the meeting, so two browsers
 * starting "the" recording of one kind start the same one. */
const RAW_TRACKS_NAMESPACE = "a1b2c3d4-e5f6-7890-abcd-ef1234567890";

function instanceId(meetingId: string, kind: Kind): string {
  return kind === "cloud" ? meetingId : uuidv5(meetingId, RAW_TRACKS_NAMESPACE);
}

async function startRecording(meetingId: string, kind: Kind) {
  return call(
    api.POST("/v1/meetings/{meeting_id}/recordings/start", {
      params: { path: { meeting_id: meetingId } },
      body: { type: kind, instanceId: instanceId(meetingId, kind) },
    }),
  );
}

/** The server allows a burst of two starts per meeting, then one a second, and every page in
 * the call starts the same recordings at about the same moment; a 429 is waited out. */
const LIMITED_ATTEMPTS = 5;

async function startKind(meetingId: string, kind: Kind): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await startRecording(meetingId, kind)).status.replace("_", " ");
    } catch (e) {
      if (asApiError(e).status !== 429 || attempt >= LIMITED_ATTEMPTS) throw e;
      await new Promise((resolve) => setTimeout(resolve, 1000 + Math.random() * 1000));
    }
  }
}

/** Starts the meeting's recordings from this page: the composed cloud recording, and raw tracks
 * (one file per participant), which need the customer bucket — a server without one says so in
 * its answer, shown next to the call, and the cloud recording still runs. A kind is settled by
 * an answer; one that stayed rate limited, or met a network or server error, is asked again at
 * the next trigger (or click). */
export async function startRecordings(meetingId: string, starts: Starts, note: (line: string) => void) {
  for (const kind of ["cloud", "raw-tracks"] as const) {
    if (starts[kind] !== "idle") continue;
    starts[kind] = "starting";
    try {
      note(`${kind}: ${await startKind(meetingId, kind)}`);
      starts[kind] = "settled";
    } catch (e) {
      const error = asApiError(e);
      note(`${kind}: ${error.detail}`);
      const retryable = error.status === 0 || error.status === 429 || error.status >= 500;
      starts[kind] = retryable ? "idle" : "settled";
    }
  }
}
