import { Suspense, useState } from "react";
import { api, call, ApiError, type CalendarEvent, type Meeting, type Room } from "../api/client";
import { useMe } from "../me";
import { asApiError, useLoad } from "../hooks";
import { useMeetingPoll } from "../hooks/useMeetingPoll";
import { Link, navigate } from "../router";
import { Dialog, ErrorState, Loading } from "../components/States";
import { PROVIDERS } from "../providers";
import { ErrorBoundary } from "../components/ErrorBoundary";
import { ConsentDialog, consentNeeded } from "./ConsentDialog";
import { SignInButton } from "../components/SignIn";
import { storedConsent, type ConsentAnswer } from "../session";
import { RoomTranscriptsLink } from "./RoomTranscriptsLink";

/** `/{room_name}` gets or creates the room's meeting (for a calendar room, lists its running
 * meetings to choose from instead); `/{room_name}/{meeting_id}` opens that one. The get-or-create
 * is idempotent on the server, so it may run while loading; starting a calendar room's meeting
 * creates one, so that happens on the click, which then goes to the new meeting's address. */
export function RoomPage({ roomName, meetingId }: { roomName: string; meetingId?: string }) {
  const [attempt, setAttempt] = useState(0);
  const loaded = useLoad(async (): Promise<Opened> => {
    const room = await call(api.GET("/v1/rooms/name/{room_name}", { params: { path: { room_name: roomName } } }));
    const meeting = (request: Promise<Meeting>) =>
      request.catch((e: unknown) => {
        throw new MeetingError(asApiError(e));
      });
    if (meetingId) {
      const m = await meeting(
        call(
          api.GET("/v1/rooms/{room_name}/meetings/{meeting_id}", {
            params: { path: { room_name: roomName, meeting_id: meetingId } },
          }),
        ),
      );
      return { room, meeting: m };
    }
    // A calendar room may have several meetings at once (overlapping events): let people choose.
    if (room.ics_enabled) {
      const [active, upcoming] = await Promise.all([
        call(api.GET("/v1/rooms/{room_name}/meetings/active", { params: { path: { room_name: roomName } } })),
        call(
          api.GET("/v1/rooms/{room_name}/meetings/upcoming", {
            params: { path: { room_name: roomName }, query: { minutes_ahead: 24 * 60 } },
          }),
        ),
      ]);
      return { room, choices: active, upcoming };
    }
    const m = await meeting(
      call(
        api.POST("/v1/rooms/{room_name}/meeting", {
          params: { path: { room_name: roomName } },
          body: { allow_duplicated: false },
        }),
      ),
    );
    return { room, meeting: m };
  }, `room:${roomName}:${meetingId ?? ""}:${attempt}`);

  if (loaded.state === "loading") return <Loading label={`Opening ${roomName}…`} />;
  if (loaded.state === "error") return <RoomError roomName={roomName} error={loaded.error} retry={() => setAttempt(attempt + 1)} />;
  const opened = loaded.data;
  if ("choices" in opened)
    return <MeetingChooser room={opened.room} initial={opened.choices} upcoming={opened.upcoming} />;
  return (
    <MeetingPage
      key={opened.meeting.id}
      room={opened.room}
      initial={opened.meeting}
      newMeeting={() => (meetingId ? navigate(`/${roomName}`) : setAttempt(attempt + 1))}
    />
  );
}

type Opened = { room: Room; meeting: Meeting } | { room: Room; choices: Meeting[]; upcoming: CalendarEvent[] };

const clock = (t: string) => new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
const day = (t: string) => new Date(t).toLocaleDateString([], { weekday: "short", day: "numeric", month: "short" });

function MeetingChooser({ room, initial, upcoming }: { room: Room; initial: Meeting[]; upcoming: CalendarEvent[] }) {
  const me = useMe();
  const isOwner = !!me.sub && me.sub === room.user_id;
  const [meetings, setMeetings] = useState(initial);
  const [starting, setStarting] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [ending, setEnding] = useState<Meeting | null>(null);

  // "Start another meeting" always creates one: done once, here, and the address then names it,
  // so reloading or trying again keeps that meeting.
  const start = async () => {
    setStarting(true);
    setError(null);
    try {
      const m = await call(
        api.POST("/v1/rooms/{room_name}/meeting", {
          params: { path: { room_name: room.name } },
          body: { allow_duplicated: meetings.length > 0 },
        }),
      );
      navigate(`/${room.name}/${m.id}`);
    } catch (e) {
      setError(asApiError(e));
      setStarting(false);
    }
  };

  return (
    <section className="page page-standalone" data-testid="meeting-chooser">
      <div className="page-head">
        <h1>{room.name}</h1>
        <RoomTranscriptsLink room={room} />
      </div>
      <p className="muted">This room follows a calendar. Join a meeting that is running, or start one now.</p>
      {meetings.length === 0 ? (
        <div className="empty">No meeting is running in this room.</div>
      ) : (
        <ul className="room-list">
          {meetings.map((m) => {
            const title = (m.calendar_metadata as { title?: unknown } | null | undefined)?.title;
            return (
              <li key={m.id} className="room-card" data-testid={`meeting-${m.id}`}>
                <div className="room-main">
                  <strong>{typeof title === "string" && title ? title : "Meeting"}</strong>
                  <div className="badges">
                    <span className="badge">
                      {new Date(m.start_date).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}–
                      {new Date(m.end_date).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}
                    </span>
                    <span className="badge">
                      {m.num_clients} {m.num_clients === 1 ? "participant" : "participants"}
                    </span>
                    <span className="badge">{m.platform}</span>
                  </div>
                </div>
                <div className="room-actions">
                  <button className="primary" onClick={() => navigate(`/${room.name}/${m.id}`)}>
                    Join
                  </button>
                  {isOwner && (
                    <button className="danger" onClick={() => setEnding(m)}>
                      End
                    </button>
                  )}
                </div>
              </li>
            );
          })}
        </ul>
      )}
      <UpcomingEvents events={upcoming.filter((e) => !meetings.some((m) => m.calendar_event_id === e.id))} />
      {error && (
        <p className="error" role="alert" data-testid="start-error">
          Could not start a meeting: {error.detail}
        </p>
      )}
      <div className="form-actions">
        <button onClick={start} disabled={starting} className={meetings.length ? "" : "primary"}>
          {starting ? "Starting…" : meetings.length ? "Start another meeting" : "Start a meeting now"}
        </button>
      </div>
      {ending && (
        <EndMeetingDialog
          meeting={ending}
          onClose={() => setEnding(null)}
          onEnded={(m) => {
            setEnding(null);
            setMeetings((list) => list.filter((x) => x.id !== m.id));
          }}
        />
      )}
    </section>
  );
}

/** A failure of the meeting call (not of loading the room): its 404 means "no such meeting". */
class MeetingError extends ApiError {
  constructor(e: ApiError) {
    super(e.status, e.detail);
  }
}

function RoomError({ roomName, error, retry }: { roomName: string; error: ApiError; retry: () => void }) {
  const back = (
    <Link href="/rooms" className="button">
      All rooms
    </Link>
  );
  const again = <button onClick={retry}>Try again</button>;
  const meeting = error instanceof MeetingError;
  if (error.status === 404 && !meeting)
    return (
      <ErrorState title="Room not found" error={error} actions={back} testId="room-not-found">
        <p>There is no room called “{roomName}”. Check the link, or create the room.</p>
      </ErrorState>
    );
  if (error.status === 404)
    return (
      <ErrorState
        title="Meeting not found"
        error={error}
        testId="meeting-not-found"
        actions={
          <>
            <button onClick={() => navigate(`/${roomName}`)}>Open the room’s current meeting</button>
            {back}
          </>
        }
      />
    );
  if (error.status === 401)
    return (
      <ErrorState
        title="Sign in to join this meeting"
        error={error}
        actions={
          <>
            <SignInButton primary />
            {back}
          </>
        }
        testId="not-signed-in"
      />
    );
  if (error.status === 403)
    return <ErrorState title="You may not join this meeting" error={error} actions={back} testId="forbidden" />;
  // 503 means either "not configured" or "unavailable" (SPEC): only there does the prose decide.
  if (error.status === 400 || (error.status === 503 && /not configured/i.test(error.detail)))
    return (
      <ErrorState title="This room’s video platform is not set up" error={error} actions={<>{again}{back}</>} testId="platform-error">
        <p>The server cannot create a meeting for this room until an administrator sets it up or the room’s owner picks another platform.</p>
      </ErrorState>
    );
  if (error.status === 503 || error.status === 429)
    return (
      <ErrorState title="The video provider is not answering" error={error} actions={<>{again}{back}</>} testId="provider-error">
        <p>The meeting could not be created or opened at the video provider. This is usually temporary.</p>
      </ErrorState>
    );
  // 502: the provider answered, but refused our request or sent something we cannot use.
  if (error.status === 502)
    return (
      <ErrorState title="The video provider answered with an error" error={error} actions={<>{again}{back}</>} testId="provider-error">
        <p>The meeting could not be created or opened at the video provider. The server’s message below says why.</p>
      </ErrorState>
    );
  return <ErrorState title="Could not open this room" error={error} actions={<>{again}{back}</>} testId="room-error" />;
}

type Phase = "in-call" | "left";

function MeetingPage({ room, initial, newMeeting }: { room: Room; initial: Meeting; newMeeting: () => void }) {
  const me = useMe();
  const isOwner = !!me.sub && me.sub === room.user_id;
  const [phase, setPhase] = useState<Phase>("in-call");
  // Participants and whether it ended, asked while the person is in the call.
  const poll = useMeetingPoll(room.name, initial, phase === "in-call");
  const { meeting, open, error: pollError } = poll;
  const [consent, setConsent] = useState<ConsentAnswer | null>(() => storedConsent(initial.id));
  const [consentOpen, setConsentOpen] = useState(false);
  // The answer could not be sent and the person joined without one.
  const [consentSkipped, setConsentSkipped] = useState(false);
  const [recordingStatus, setRecordingStatus] = useState<string | null>(null);
  const [ending, setEnding] = useState(false);

  const joined = useLoad(
    () =>
      call(
        api.POST("/v1/rooms/{room_name}/meetings/{meeting_id}/join", {
          params: { path: { room_name: room.name, meeting_id: initial.id } },
        }),
      ),
    `join:${initial.id}`,
  );

  const askConsent = consentNeeded(meeting, room);
  const waitingForConsent = askConsent && consent === null && !consentSkipped;

  // The join endpoint's only 400 is "Meeting is not active" / "Meeting has ended".
  if (!open || (joined.state === "error" && joined.error.status === 400))
    return (
      <ErrorState title="This meeting has ended" testId="meeting-ended" error={joined.state === "error" ? joined.error : undefined}>
        <p>
          {room.name}’s meeting that started {new Date(meeting.start_date).toLocaleString()} is over.
        </p>
        <div className="actions">
          <button className="primary" onClick={newMeeting}>
            Join the room again
          </button>
          <RoomTranscriptsLink room={room} watch />
          <Link href="/rooms" className="button">
            All rooms
          </Link>
        </div>
      </ErrorState>
    );

  const Provider = PROVIDERS[meeting.platform];
  let stage;
  if (!Provider)
    stage = (
      <ErrorState title="Unsupported video platform" testId="provider-error">
        <p>This meeting runs on “{meeting.platform}”, which this version of the web app cannot show.</p>
      </ErrorState>
    );
  else if (phase === "left")
    stage = (
      <div className="state" data-testid="left">
        <h2>You left the meeting</h2>
        <p className="muted">The meeting goes on for the others. It ends a while after everyone has left.</p>
        <div className="actions">
          <button
            className="primary"
            onClick={() => {
              poll.askAtOnce(); // the meeting may have ended while nobody asked
              setPhase("in-call");
            }}
          >
            Rejoin
          </button>
          <Link href="/rooms" className="button">
            All rooms
          </Link>
        </div>
      </div>
    );
  else if (joined.state === "loading") stage = <Loading label="Joining…" />;
  else if (joined.state === "error")
    stage = (
      <ErrorState
        title={joined.error.status >= 500 ? "The video provider is not answering" : "Could not join the meeting"}
        error={joined.error}
        testId="join-error"
        actions={<button onClick={joined.reload}>Try again</button>}
      />
    );
  else if (waitingForConsent) stage = <div className="state muted">Waiting for your answer about recording…</div>;
  else
    stage = (
      <ErrorBoundary title={`The ${meeting.platform} call failed`} testId="provider-error">
        <Suspense fallback={<Loading label={`Loading ${meeting.platform}…`} />}>
          <Provider
            meeting={joined.data}
            room={room}
            isOwner={isOwner}
            onLeave={() => setPhase("left")}
            onRecordingStatus={setRecordingStatus}
          />
        </Suspense>
      </ErrorBoundary>
    );

  const recorded = meeting.recording_type === "cloud" && meeting.recording_trigger !== "none";

  return (
    <section className="room-page">
      <div className="room-bar">
        <div className="room-title">
          <h1>{room.name}</h1>
          <span className="badge">{meeting.platform}</span>
          <span className="badge" data-testid="participants">
            {meeting.num_clients} {meeting.num_clients === 1 ? "participant" : "participants"}
          </span>
          {recorded && (
            <span className="badge rec" data-testid="recording-indicator" title={`Cloud recording (${meeting.recording_trigger})`}>
              <span className="dot" aria-hidden="true" />
              {recordingStatus === "recording"
                ? "Recording"
                : meeting.recording_trigger === "prompt"
                  ? "Recording on request"
                  : "Recorded meeting"}
            </span>
          )}
          {meeting.recording_type === "local" && <span className="badge">participants may record locally</span>}
        </div>
        <div className="room-actions">
          <RoomTranscriptsLink room={room} watch={phase === "left"} />
          {askConsent && (consent || consentSkipped) && (
            <button onClick={() => setConsentOpen(true)} data-testid="consent-reopen">
              Recording consent: {consent === "given" ? "agreed" : consent === "declined" ? "declined" : "not answered"}
            </button>
          )}
          {phase === "in-call" && (
            <button onClick={() => setPhase("left")} data-testid="leave">
              Leave
            </button>
          )}
          {isOwner && (
            <button className="danger" onClick={() => setEnding(true)}>
              End meeting
            </button>
          )}
        </div>
      </div>
      {pollError && (
        <p className="error small" role="alert">
          Lost contact with the server: {pollError.detail}
        </p>
      )}
      <div className="stage">{stage}</div>
      {((waitingForConsent && phase === "in-call") || consentOpen) && (
        <ConsentDialog
          meeting={meeting}
          current={consent}
          onAnswered={(answer) => {
            setConsent(answer);
            setConsentOpen(false);
          }}
          onClose={consent || consentSkipped ? () => setConsentOpen(false) : undefined}
          onSkip={() => {
            setConsentSkipped(true);
            setConsentOpen(false);
          }}
        />
      )}
      {ending && <EndMeetingDialog meeting={meeting} onClose={() => setEnding(false)} onEnded={(m) => { setEnding(false); poll.ended(m); }} />}
    </section>
  );
}

function EndMeetingDialog({ meeting, onClose, onEnded }: { meeting: Meeting; onClose: () => void; onEnded: (m: Meeting) => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const end = async () => {
    setBusy(true);
    try {
      await call(api.PATCH("/v1/meetings/{meeting_id}/deactivate", { params: { path: { meeting_id: meeting.id } } }));
      onEnded({ ...meeting, is_active: false });
    } catch (e) {
      setError(asApiError(e));
      setBusy(false);
    }
  };
  return (
    <Dialog
      title="End this meeting for everyone?"
      onClose={onClose}
      actions={
        <>
          <button onClick={onClose} disabled={busy}>Cancel</button>
          <button className="danger" onClick={end} disabled={busy}>{busy ? "Ending…" : "End meeting"}</button>
        </>
      }
    >
      <p>Everyone is disconnected and the provider room is closed. Opening the room afterwards starts a new meeting.</p>
      {error && <p className="error" role="alert">{error.detail}</p>}
    </Dialog>
  );
}

/** The room's calendar events of the next 24 hours that have no running meeting yet; their
 * meetings open a few minutes before they start. */
function UpcomingEvents({ events }: { events: CalendarEvent[] }) {
  return (
    <section className="upcoming" data-testid="upcoming-events">
      <h2>Upcoming</h2>
      {events.length === 0 ? (
        <p className="muted small">No scheduled meetings in the next 24 hours.</p>
      ) : (
        <ul className="upcoming-list">
          {events.map((e) => (
            <li key={e.id} data-testid={`upcoming-${e.ics_uid}`}>
              <span className="badge">
                {day(e.start_time)} {clock(e.start_time)}–{clock(e.end_time)}
              </span>{" "}
              <strong>{e.title || "Untitled event"}</strong>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
