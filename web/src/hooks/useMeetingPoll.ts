import { useCallback, useEffect, useRef, useState } from "react";
import { api, call, type ApiError, type Meeting } from "../api/client";
import { asApiError } from "./index";

/** How often the room page asks for the meeting's state (participants, ended). */
const POLL_MS = 3000;

const isOpen = (m: Meeting) => m.is_active && new Date(m.end_date).getTime() > Date.now();

export interface MeetingPoll {
  /** The meeting as last heard: `initial`, then each answer. */
  meeting: Meeting;
  /** Active and not past its end date. */
  open: boolean;
  /** The last request failed (other than with 404, which means the meeting is gone: ended). */
  error: ApiError | null;
  /** The page ended the meeting itself: `m` is its state now. */
  ended: (m: Meeting) => void;
  /** Ask at once when polling starts again, instead of after POLL_MS: after "Rejoin", as the
   * meeting may have ended while nobody asked. */
  askAtOnce: () => void;
}

/** The meeting's live state: participants and whether it ended. One request at a time (the next
 * is asked POLL_MS after the previous answer), none while the tab is hidden (it asks at once when
 * shown again), none once the meeting ended or while `inCall` is false (the person left); an
 * answer that comes after the page stopped caring is dropped (and its request aborted), and no
 * answer brings back a meeting this page already saw end. */
export function useMeetingPoll(roomName: string, initial: Meeting, inCall: boolean): MeetingPoll {
  const [meeting, setMeeting] = useState<Meeting>(initial);
  const [error, setError] = useState<ApiError | null>(null);
  const open = isOpen(meeting);
  const polling = open && inCall;
  const atOnce = useRef(false);
  const meetingId = initial.id;

  useEffect(() => {
    if (!polling) return;
    let stopped = false;
    let timer: number | undefined;
    let inFlight: AbortController | null = null;
    const schedule = () => {
      if (!stopped && !document.hidden && timer === undefined && !inFlight) timer = window.setTimeout(poll, POLL_MS);
    };
    const poll = async () => {
      timer = undefined;
      const controller = new AbortController();
      inFlight = controller;
      try {
        const fresh = await call(
          api.GET("/v1/rooms/{room_name}/meetings/{meeting_id}", {
            params: { path: { room_name: roomName, meeting_id: meetingId } },
            signal: controller.signal,
          }),
        );
        if (stopped) return;
        setMeeting((m) => (m.is_active ? fresh : m));
        setError(null);
      } catch (e) {
        if (stopped) return;
        const error = asApiError(e);
        // The meeting (or its room) was deleted: for this page, it has ended.
        if (error.status === 404) setMeeting((m) => ({ ...m, is_active: false }));
        else setError(error);
      } finally {
        if (inFlight === controller) inFlight = null;
      }
      schedule();
    };
    const onVisibility = () => {
      if (document.hidden) {
        window.clearTimeout(timer);
        timer = undefined;
      } else if (timer === undefined && !inFlight) {
        void poll(); // back in view: catch up at once
      }
    };
    document.addEventListener("visibilitychange", onVisibility);
    if (atOnce.current && !document.hidden) void poll();
    else schedule();
    atOnce.current = false;
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      inFlight?.abort();
      document.removeEventListener("visibilitychange", onVisibility);
    };
  }, [polling, roomName, meetingId]);

  const ended = useCallback((m: Meeting) => setMeeting(m), []);
  const askAtOnce = useCallback(() => {
    atOnce.current = true;
  }, []);
  return { meeting, open, error, ended, askAtOnce };
}
