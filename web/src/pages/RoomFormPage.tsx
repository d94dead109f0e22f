import { useState, type FormEvent, type ReactNode } from "react";
import {
  api,
  call,
  ApiError,
  type CreateRoom,
  type Platform,
  type RecordingTrigger,
  type RecordingType,
  type Room,
  type RoomMode,
  type UpdateRoom,
} from "../api/client";
import { asApiError, useLoad } from "../hooks";
import { Link, navigate } from "../router";
import { ErrorState, Loading } from "../components/States";
import { SignInButton } from "../components/SignIn";
import { useMe } from "../me";
import { roomNameProblem } from "../roomName";
import { CalendarPanel } from "./CalendarPanel";
import { WebhookPanel } from "./WebhookPanel";

/** Every room field of SPEC §2 that a person sets. */
interface Fields {
  name: string;
  platform: string;
  recording_type: RecordingType;
  recording_trigger: RecordingTrigger;
  room_mode: RoomMode;
  is_locked: boolean;
  is_shared: boolean;
  skip_consent: boolean;
  ics_enabled: boolean;
  ics_url: string;
  /** As typed: checked and turned into seconds on submit. */
  ics_fetch_interval: string;
  zulip_auto_post: boolean;
  zulip_stream: string;
  zulip_topic: string;
  webhook_url: string;
  webhook_secret: string;
}

function fieldsOf(room: Room | null, defaultPlatform: string): Fields {
  return {
    name: room?.name ?? "",
    platform: room?.platform ?? defaultPlatform,
    recording_type: room?.recording_type ?? "cloud",
    recording_trigger: room?.recording_trigger ?? "automatic-2nd-participant",
    room_mode: room?.room_mode ?? "normal",
    is_locked: room?.is_locked ?? false,
    is_shared: room?.is_shared ?? false,
    skip_consent: room?.skip_consent ?? false,
    ics_enabled: room?.ics_enabled ?? false,
    ics_url: room?.ics_url ?? "",
    ics_fetch_interval: String(room?.ics_fetch_interval ?? 300),
    zulip_auto_post: room?.zulip_auto_post ?? false,
    zulip_stream: room?.zulip_stream ?? "",
    zulip_topic: room?.zulip_topic ?? "",
    webhook_url: room?.webhook_url ?? "",
    webhook_secret: room?.webhook_secret ?? "",
  };
}

/** Why the typed calendar fetch interval cannot be sent, or null. */
function intervalProblem(typed: string): string | null {
  const seconds = Number(typed.trim());
  if (!typed.trim()) return "Enter how often to fetch the calendar, in seconds (60 to 604800).";
  if (!Number.isInteger(seconds) || seconds < 60 || seconds > 604800) return "A whole number of seconds from 60 to 604800.";
  return null;
}

/** The form's fields as the API takes them. */
function toBody(f: Fields) {
  return { ...f, ics_fetch_interval: Number(f.ics_fetch_interval.trim()) };
}

const TRIGGERS: { value: RecordingTrigger; label: string }[] = [
  { value: "automatic-2nd-participant", label: "When a second person joins" },
  { value: "automatic", label: "As soon as someone joins" },
  { value: "prompt", label: "When someone presses “Start recording”" },
  { value: "none", label: "Never (recording off)" },
];

export function RoomFormPage({ roomId }: { roomId?: string }) {
  const me = useMe();
  const loaded = useLoad(async () => {
    if (!me.sub) return { platforms: [], room: null }; // nothing to load: the page asks to sign in
    const [platforms, room] = await Promise.all([
      call(api.GET("/v1/platforms")),
      roomId ? call(api.GET("/v1/rooms/{room_id}", { params: { path: { room_id: roomId } } })) : null,
    ]);
    return { platforms, room };
  }, `form:${roomId ?? "new"}:${me.sub ?? ""}`);

  const back = (
    <Link href="/rooms" className="button">
      Back to rooms
    </Link>
  );
  // Editing needs a signed-in user, and an existing room its owner: say so before the form,
  // rather than after it was filled in.
  if (!me.sub)
    return (
      <ErrorState
        title={roomId ? "Sign in to edit this room" : "Sign in to create a room"}
        testId="not-signed-in"
        actions={
          <>
            {me.oidc && <SignInButton primary />}
            {back}
          </>
        }
      >
        <p>Rooms belong to a signed-in user. Room pages (a link such as /team-standup) work without signing in.</p>
      </ErrorState>
    );
  if (loaded.state === "loading") return <Loading label={roomId ? "Loading the room…" : "Loading…"} />;
  if (loaded.state === "error") {
    const title =
      loaded.error.status === 404
        ? "This room does not exist"
        : loaded.error.status === 403
          ? "You cannot edit this room"
          : "Could not load the room";
    return (
      <ErrorState
        title={title}
        error={loaded.error}
        actions={
          <Link href="/rooms" className="button">
            Back to rooms
          </Link>
        }
      />
    );
  }
  if (loaded.data.room && loaded.data.room.user_id !== me.sub)
    return (
      <ErrorState title="Only the owner can edit this room" testId="not-owner" actions={back}>
        <p>
          {loaded.data.room.name} is shared with you: you can{" "}
          <Link href={`/${loaded.data.room.name}`}>open the room</Link>, but not change it.
        </p>
      </ErrorState>
    );
  return <RoomForm key={loaded.data.room?.id ?? "new"} room={loaded.data.room} platforms={loaded.data.platforms} />;
}

function RoomForm({ room, platforms }: { room: Room | null; platforms: Platform[] }) {
  const defaultPlatform = platforms.find((p) => p.is_default)?.name ?? platforms.find((p) => p.configured)?.name ?? "mock";
  const initial = fieldsOf(room, defaultPlatform);
  const [saved, setSaved] = useState<Room | null>(room);
  const [f, setF] = useState<Fields>(initial);
  const [baseline, setBaseline] = useState<Fields>(initial);
  const [nameTouched, setNameTouched] = useState(false);
  const [intervalTouched, setIntervalTouched] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [showSecret, setShowSecret] = useState(false);

  const set = <K extends keyof Fields>(key: K, value: Fields[K]) => {
    setF((old) => ({ ...old, [key]: value }));
    setMessage(null);
  };
  const nameProblem = roomNameProblem(f.name);
  const fetchProblem = intervalProblem(f.ics_fetch_interval);
  const cloud = f.recording_type === "cloud";
  const currentPlatform = platforms.find((p) => p.name === f.platform);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setNameTouched(true);
    setIntervalTouched(true);
    if (nameProblem || fetchProblem) return;
    setBusy(true);
    setError(null);
    try {
      if (!saved) {
        const body: CreateRoom = {
          ...toBody(f),
          webhook_url: f.webhook_url.trim() || null,
          webhook_secret: f.webhook_secret.trim() || null,
          ics_url: f.ics_url.trim() || null,
        };
        await call(api.POST("/v1/rooms", { body }));
        navigate("/rooms");
        return;
      }
      const changes: UpdateRoom = {};
      const body = toBody(f);
      for (const key of Object.keys(f) as (keyof Fields)[]) {
        if (f[key] !== baseline[key]) (changes as Record<string, unknown>)[key] = body[key];
      }
      const updated = await call(
        api.PATCH("/v1/rooms/{room_id}", { params: { path: { room_id: saved.id } }, body: changes }),
      );
      const next = fieldsOf(updated, defaultPlatform);
      setSaved(updated);
      setF(next);
      setBaseline(next);
      setMessage(Object.keys(changes).length ? "Saved." : "Nothing changed.");
    } catch (err) {
      setError(asApiError(err));
    } finally {
      setBusy(false);
    }
  };

  const webhookDirty = f.webhook_url !== baseline.webhook_url || f.webhook_secret !== baseline.webhook_secret;
  const calendarDirty = f.ics_url !== baseline.ics_url || f.ics_enabled !== baseline.ics_enabled;

  return (
    <section className="page">
      <div className="page-head">
        <h1>{saved ? `Edit ${saved.name}` : "New room"}</h1>
        {saved && (
          <Link href={`/${saved.name}`} className="button">
            Open room
          </Link>
        )}
      </div>
      <form className="room-form" onSubmit={submit} noValidate>
        <Section title="Room">
          <Field label="Name" htmlFor="name" hint={`Its link: ${window.location.origin}/${f.name || "…"}`}>
            <input
              id="name"
              name="name"
              value={f.name}
              autoFocus={!saved}
              onChange={(e) => {
                set("name", e.target.value);
                setNameTouched(true);
              }}
              aria-invalid={nameTouched && !!nameProblem}
              aria-describedby="name-rules"
              autoComplete="off"
              spellCheck={false}
            />
            <p id="name-rules" className={nameTouched && nameProblem ? "rule rule-bad" : "rule"} data-testid="name-rules">
              {nameTouched && nameProblem ? nameProblem : "1–64 characters: lowercase letters a–z, digits 0–9 and “-”."}
            </p>
          </Field>
          <Field label="Video platform" htmlFor="platform">
            <select id="platform" value={f.platform} onChange={(e) => set("platform", e.target.value)}>
              {platforms.map((p) => (
                <option key={p.name} value={p.name} disabled={!p.configured && p.name !== f.platform}>
                  {p.name}
                  {p.is_default ? " (default)" : ""}
                  {!p.configured ? ` — not configured: set ${p.missing_setting ?? "its settings"}` : ""}
                </option>
              ))}
            </select>
            {currentPlatform && !currentPlatform.configured && (
              <p className="rule rule-bad">
                {currentPlatform.name} is not configured on this server (set {currentPlatform.missing_setting}); new
                meetings in this room will fail until it is, or until you choose another platform.
              </p>
            )}
          </Field>
          <Field label="Room mode" htmlFor="room_mode" hint="Group rooms suit larger meetings (Whereby).">
            <select id="room_mode" value={f.room_mode} onChange={(e) => set("room_mode", e.target.value as RoomMode)}>
              <option value="normal">Normal</option>
              <option value="group">Group</option>
            </select>
          </Field>
          <Check id="is_locked" checked={f.is_locked} onChange={(v) => set("is_locked", v)} label="Locked">
            Guests knock and the host lets them in.
          </Check>
          <Check id="is_shared" checked={f.is_shared} onChange={(v) => set("is_shared", v)} label="Shared">
            Everyone on this server sees the room in their list.
          </Check>
        </Section>

        <Section title="Recording">
          <Field label="Recording" htmlFor="recording_type">
            <select
              id="recording_type"
              value={f.recording_type}
              onChange={(e) => set("recording_type", e.target.value as RecordingType)}
            >
              <option value="cloud">Cloud: the provider records, Reflector transcribes</option>
              <option value="local">Local: participants record in their browser</option>
              <option value="none">None</option>
            </select>
          </Field>
          <Field label="Start recording" htmlFor="recording_trigger" hint={cloud ? undefined : "Only for cloud recording."}>
            <select
              id="recording_trigger"
              value={f.recording_trigger}
              disabled={!cloud}
              onChange={(e) => set("recording_trigger", e.target.value as RecordingTrigger)}
            >
              {TRIGGERS.map((t) => (
                <option key={t.value} value={t.value}>
                  {t.label}
                </option>
              ))}
            </select>
          </Field>
          <Check id="skip_consent" checked={f.skip_consent} onChange={(v) => set("skip_consent", v)} label="Skip consent">
            Do not ask participants whether they agree to be recorded.
          </Check>
        </Section>

        <Section title="Calendar">
          <Check id="ics_enabled" checked={f.ics_enabled} onChange={(v) => set("ics_enabled", v)} label="Follow a calendar">
            Prepare meetings for events whose location or description contains this room&apos;s link.
          </Check>
          <Field label="ICS URL" htmlFor="ics_url" hint="Only you see it: private calendar links contain a secret.">
            <input
              id="ics_url"
              type="url"
              value={f.ics_url}
              placeholder="https://calendar.example.com/team.ics"
              onChange={(e) => set("ics_url", e.target.value)}
            />
          </Field>
          <Field label="Fetch every (seconds)" htmlFor="ics_fetch_interval">
            <input
              id="ics_fetch_interval"
              type="number"
              min={60}
              max={604800}
              value={f.ics_fetch_interval}
              onChange={(e) => {
                set("ics_fetch_interval", e.target.value);
                setIntervalTouched(true);
              }}
              aria-invalid={intervalTouched && !!fetchProblem}
              aria-describedby="interval-rules"
            />
            <p
              id="interval-rules"
              className={intervalTouched && fetchProblem ? "rule rule-bad" : "hint"}
              data-testid="interval-rules"
            >
              {intervalTouched && fetchProblem ? fetchProblem : "60 to 604800 (a week)."}
            </p>
          </Field>
          {saved ? (
            <CalendarPanel room={saved} dirty={calendarDirty} />
          ) : (
            <p className="muted small">Save the room to sync its calendar.</p>
          )}
        </Section>

        <Section title="Zulip">
          <Check
            id="zulip_auto_post"
            checked={f.zulip_auto_post}
            onChange={(v) => set("zulip_auto_post", v)}
            label="Post transcripts to Zulip"
          />
          <div className="row">
            <Field label="Stream" htmlFor="zulip_stream">
              <input id="zulip_stream" value={f.zulip_stream} onChange={(e) => set("zulip_stream", e.target.value)} />
            </Field>
            <Field label="Topic" htmlFor="zulip_topic">
              <input id="zulip_topic" value={f.zulip_topic} onChange={(e) => set("zulip_topic", e.target.value)} />
            </Field>
          </div>
        </Section>

        <Section title="Webhook">
          <Field label="Webhook URL" htmlFor="webhook_url" hint="Reflector POSTs signed meeting and transcript events here.">
            <input
              id="webhook_url"
              type="url"
              value={f.webhook_url}
              placeholder="https://example.com/reflector-events"
              onChange={(e) => set("webhook_url", e.target.value)}
            />
          </Field>
          <Field label="Signing secret" htmlFor="webhook_secret" hint="Leave empty to keep the current one, or to have one generated.">
            <div className="input-with-button">
              <input
                id="webhook_secret"
                type={showSecret ? "text" : "password"}
                value={f.webhook_secret}
                autoComplete="off"
                onChange={(e) => set("webhook_secret", e.target.value)}
              />
              <button type="button" onClick={() => setShowSecret(!showSecret)}>
                {showSecret ? "Hide" : "Show"}
              </button>
            </div>
          </Field>
          {saved ? (
            <WebhookPanel room={saved} dirty={webhookDirty} />
          ) : (
            <p className="muted small">Save the room to send a test event and see deliveries.</p>
          )}
        </Section>

        {error && (
          <p className="error" role="alert" data-testid="form-error">
            {error.detail}
          </p>
        )}
        {message && (
          <p className="ok" role="status">
            {message}
          </p>
        )}
        <div className="form-actions">
          <Link href="/rooms" className="button">
            {saved ? "Back to rooms" : "Cancel"}
          </Link>
          <button type="submit" className="primary" disabled={busy || (nameTouched && !!nameProblem) || (intervalTouched && !!fetchProblem)}>
            {busy ? "Saving…" : saved ? "Save changes" : "Create room"}
          </button>
        </div>
      </form>
    </section>
  );
}

function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <fieldset className="section">
      <legend>{title}</legend>
      {children}
    </fieldset>
  );
}

function Field({ label, htmlFor, hint, children }: { label: string; htmlFor: string; hint?: string; children: ReactNode }) {
  return (
    <div className="field">
      <label htmlFor={htmlFor}>{label}</label>
      {children}
      {hint && <p className="hint">{hint}</p>}
    </div>
  );
}

function Check({
  id,
  label,
  checked,
  onChange,
  children,
}: {
  id: string;
  label: string;
  checked: boolean;
  onChange: (v: boolean) => void;
  children?: ReactNode;
}) {
  return (
    <div className="check">
      <input id={id} type="checkbox" checked={checked} onChange={(e) => onChange(e.target.checked)} />
      <label htmlFor={id}>
        {label}
        {children && <span className="hint"> — {children}</span>}
      </label>
    </div>
  );
}
