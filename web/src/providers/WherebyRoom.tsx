import { useEffect, useRef, useState } from "react";
import type { ProviderProps } from "./types";

/** Whereby's `<whereby-embed>` web component. Owners join with the host URL (they can lock,
 * admit and record); everyone else with the room URL. Whereby starts cloud recordings itself
 * at the trigger the meeting was created with. */
export default function WherebyRoom({ meeting, isOwner, onLeave, onRecordingStatus }: ProviderProps) {
  const container = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<string | null>(null);
  const callbacks = useRef({ onLeave, onRecordingStatus });
  useEffect(() => {
    callbacks.current = { onLeave, onRecordingStatus };
  });
  const url = isOwner && meeting.host_room_url ? meeting.host_room_url : meeting.room_url;

  useEffect(() => {
    let element: HTMLElement | null = null;
    let cancelled = false;
    const onLeaveEvent = () => callbacks.current.onLeave();
    const onRecording = (e: Event) => {
      const status = (e as CustomEvent<{ status?: string }>).detail?.status;
      if (status) callbacks.current.onRecordingStatus(status === "started" ? "recording" : status);
    };
    import("@whereby.com/browser-sdk/embed")
      .then(() => {
        if (cancelled || !container.current) return;
        element = document.createElement("whereby-embed");
        element.setAttribute("room", url);
        element.setAttribute("leaveButton", "on");
        element.setAttribute("title", "Whereby call");
        element.addEventListener("leave", onLeaveEvent);
        element.addEventListener("recording_status_change", onRecording);
        container.current.append(element);
      })
      .catch((e: unknown) => {
        if (!cancelled) setError(`Could not load Whereby: ${e instanceof Error ? e.message : String(e)}`);
      });
    return () => {
      cancelled = true;
      element?.removeEventListener("leave", onLeaveEvent);
      element?.removeEventListener("recording_status_change", onRecording);
      element?.remove();
    };
  }, [url]);

  return (
    <div className="call">
      {error && (
        <div className="call-error" role="alert" data-testid="provider-error">
          {error}
        </div>
      )}
      <div ref={container} className="call-host" data-testid="whereby-container" />
    </div>
  );
}
