import { useEffect, useMemo, useRef, useState } from "react";
import type { Room as LiveKitCall } from "livekit-client";
import type { ProviderProps } from "./types";

type Status = "connecting" | "connected" | "left" | "failed";

/** The join URL's parts: the LiveKit server URL, the room, and the participant token the join
 * endpoint added (`?room=…&token=…`). No token means the meeting is locked and this caller was
 * not admitted; null means the URL does not parse. */
function parseJoinUrl(roomUrl: string): { server: string; room: string; token: string | null } | null {
  try {
    const url = new URL(roomUrl);
    const room = url.searchParams.get("room") ?? "";
    const token = url.searchParams.get("token");
    url.search = "";
    return { server: url.toString().replace(/\/$/, ""), room, token };
  } catch {
    return null;
  }
}

/** A LiveKit call with `livekit-client`, loaded only on LiveKit meetings: connects with the
 * token from the join endpoint, publishes the microphone and camera, shows everyone's video and
 * audio, and reports LiveKit's recording state (egress). The page's own Leave button unmounts it,
 * which disconnects; a disconnect from the server side (the room closed) counts as leaving. */
export default function LiveKitRoom({ meeting, onLeave, onRecordingStatus }: ProviderProps) {
  const media = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState<Status>("connecting");
  const [error, setError] = useState<string | null>(null);
  const [people, setPeople] = useState<string[]>([]);
  const callbacks = useRef({ onLeave, onRecordingStatus });
  useEffect(() => {
    callbacks.current = { onLeave, onRecordingStatus };
  });
  const target = useMemo(() => parseJoinUrl(meeting.room_url), [meeting.room_url]);

  useEffect(() => {
    if (!target?.token) return;
    const token = target.token;
    let cancelled = false;
    let room: LiveKitCall | null = null;
    (async () => {
      const lk = await import("livekit-client");
      if (cancelled) return;
      room = new lk.Room({ adaptiveStream: true, dynacast: true });
      const current = room;
      const refresh = () =>
        setPeople([
          current.localParticipant.name || current.localParticipant.identity,
          ...[...current.remoteParticipants.values()].map((p) => p.name || p.identity),
        ]);
      current
        .on(lk.RoomEvent.ParticipantConnected, refresh)
        .on(lk.RoomEvent.ParticipantDisconnected, refresh)
        .on(lk.RoomEvent.TrackSubscribed, (track) => {
          const element = track.attach();
          element.dataset.testid = `track-${track.kind}`;
          media.current?.append(element);
        })
        .on(lk.RoomEvent.TrackUnsubscribed, (track) => track.detach().forEach((e) => e.remove()))
        .on(lk.RoomEvent.RecordingStatusChanged, (recording) =>
          callbacks.current.onRecordingStatus(recording ? "recording" : "stopped"),
        )
        .on(lk.RoomEvent.Disconnected, () => {
          if (!cancelled) setStatus((s) => (s === "connected" ? "left" : s));
        });
      try {
        await current.connect(target.server, token);
        if (cancelled) return;
        setStatus("connected");
        refresh();
        await current.localParticipant.enableCameraAndMicrophone().catch((e: unknown) => {
          setError(`Camera or microphone unavailable: ${e instanceof Error ? e.message : String(e)}`);
        });
      } catch (e) {
        if (cancelled) return;
        setStatus("failed");
        setError(`Could not connect to the LiveKit server: ${e instanceof Error ? e.message : String(e)}`);
      }
    })().catch((e: unknown) => {
      if (!cancelled) {
        setStatus("failed");
        setError(`Could not load LiveKit: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
    return () => {
      cancelled = true;
      void room?.disconnect();
    };
  }, [target]);

  useEffect(() => {
    if (status === "left") callbacks.current.onLeave();
  }, [status]);

  if (!target) {
    return (
      <div className="call">
        <div className="call-error" role="alert" data-testid="provider-error">
          LiveKit: the server gave a meeting URL that is not valid ({meeting.room_url || "empty"}).
        </div>
      </div>
    );
  }
  if (!target.token) {
    return (
      <div className="call">
        <div className="call-error" role="alert" data-testid="provider-error">
          This meeting is locked: only people the room's owner admits can join it.
        </div>
      </div>
    );
  }
  return (
    <div className="call">
      {error && (
        <div className="call-error" role="alert" data-testid="provider-error">
          {error}
        </div>
      )}
      <div className="call-tools">
        <span className="small muted" data-testid="livekit-status">
          {status === "connecting" && `Connecting to ${target.room}…`}
          {status === "connected" && `In the call: ${people.join(", ")}`}
          {status === "failed" && "Not connected"}
          {status === "left" && "Left the call"}
        </span>
      </div>
      <div ref={media} className="call-host" data-testid="livekit-container" />
    </div>
  );
}
