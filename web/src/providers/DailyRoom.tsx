import { useEffect, useMemo, useRef, useState } from "react";
import type { DailyCall } from "@daily-co/daily-js";
import type { ProviderProps } from "./types";
import { startRecording } from "../recording";
import { asApiError } from "../hooks";

type Kind = "cloud" | "raw-tracks";
/** Per kind: not asked yet (or worth asking again), being asked, or settled for this page. */
type Starts = Record<Kind, "idle" | "starting" | "settled">;

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
async function startRecordings(meetingId: string, starts: Starts, note: (line: string) => void) {
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

/** A pending `destroy()` of the previous frame: Daily allows one frame at a time. */
let destroying: Promise<void> = Promise.resolve();

/** Daily's prebuilt call in a daily-js call frame, joined with the token the join endpoint put
 * in `room_url` (`?t=`). Cloud meetings start their recordings from here at the room's trigger. */
export default function DailyRoom({ meeting, onLeave, onRecordingStatus }: ProviderProps) {
  const container = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<string | null>(null);
  const [recordingNotes, setRecordingNotes] = useState<string[]>([]);
  const [frame, setFrame] = useState<DailyCall | null>(null);
  const starts = useRef<Starts>({ cloud: "idle", "raw-tracks": "idle" });
  const recordRef = useRef<() => Promise<void>>(async () => undefined);
  const callbacks = useRef({ onLeave, onRecordingStatus });
  useEffect(() => {
    callbacks.current = { onLeave, onRecordingStatus };
  });

  // The join URL with its token (`?t=`) taken out; null when the server handed a URL that does
  // not parse, which is shown as the provider's error instead of a blank call.
  const target = useMemo(() => {
    try {
      const url = new URL(meeting.room_url);
      const token = url.searchParams.get("t") ?? undefined;
      url.searchParams.delete("t");
      return { url: url.toString(), token };
    } catch {
      return null;
    }
  }, [meeting.room_url]);

  const trigger = meeting.recording_type === "cloud" ? meeting.recording_trigger : "none";
  const [allSettled, setAllSettled] = useState(false);
  const [starting, setStarting] = useState(false);

  useEffect(() => {
    let cancelled = false;
    let call: DailyCall | null = null;
    if (!target) return;

    const record = async () => {
      setStarting(true);
      await startRecordings(meeting.id, starts.current, (line) => setRecordingNotes((n) => [...n, line]));
      setStarting(false);
      setAllSettled(Object.values(starts.current).every((state) => state === "settled"));
    };
    recordRef.current = record;

    (async () => {
      const { default: Daily } = await import("@daily-co/daily-js");
      await destroying;
      if (cancelled || !container.current) return;
      call = Daily.createFrame(container.current, {
        iframeStyle: { width: "100%", height: "100%", border: "0" },
        showLeaveButton: true,
        showFullscreenButton: true,
      });
      setFrame(call);
      const present = () => (call ? Object.keys(call.participants()).length : 0);
      call.on("joined-meeting", () => {
        if (trigger === "automatic") void record();
        if (trigger === "automatic-2nd-participant" && present() >= 2) void record();
      });
      call.on("participant-joined", () => {
        if (trigger === "automatic-2nd-participant" && present() >= 2) void record();
      });
      call.on("recording-started", () => callbacks.current.onRecordingStatus("recording"));
      call.on("recording-stopped", () => callbacks.current.onRecordingStatus("stopped"));
      call.on("left-meeting", () => callbacks.current.onLeave());
      call.on("error", (e) => setError(e?.errorMsg ?? "The call failed."));
      try {
        await call.join(target);
      } catch (e) {
        if (!cancelled) setError(e instanceof Error ? e.message : String(e ?? "Could not join the call."));
      }
    })().catch((e: unknown) => {
      if (!cancelled) setError(`Could not load Daily: ${e instanceof Error ? e.message : String(e)}`);
    });

    return () => {
      cancelled = true;
      if (call) destroying = call.destroy().catch(() => undefined);
    };
  }, [meeting.id, target, trigger]);

  return (
    <div className="call">
      {(error || !target) && (
        <div className="call-error" role="alert" data-testid="provider-error">
          Daily: {target ? error : `the server gave a meeting URL that is not valid (${meeting.room_url || "empty"}).`}
        </div>
      )}
      {(trigger === "prompt" || recordingNotes.length > 0) && (
        <div className="call-tools">
          {trigger === "prompt" && (
            <button
              onClick={() => void recordRef.current()}
              disabled={!frame || starting || allSettled}
            >
              Start recording
            </button>
          )}
          {recordingNotes.length > 0 && (
            <span className="small muted" data-testid="recording-notes">
              Recording — {recordingNotes.join(" · ")}
            </span>
          )}
        </div>
      )}
      <div ref={container} className="call-host" data-testid="daily-container" />
    </div>
  );
}
