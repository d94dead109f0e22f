import { useEffect, useMemo, useRef, useState } from "react";
import type { DailyCall } from "@daily-co/daily-js";
import type { ProviderProps } from "../types";
import { startRecordings, type Starts } from "./recording";

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
