// A small stand-in for Daily's, Whereby's and LiveKit's server APIs (node http on 127.0.0.1), so the real
// server creates meetings whose room URLs point at stand-in call pages, and the test can see the
// exact requests the server made (tokens, recording starts).
import { createServer, type IncomingMessage, type Server } from "node:http";

export const DAILY_DOMAIN = "https://reflector-test.daily.co";
export const WHEREBY_DOMAIN = "https://reflector-test.whereby.com";
/** Where browsers connect to LiveKit (`LIVEKIT_PUBLIC_URL`); tests route its WebSocket. */
export const LIVEKIT_PUBLIC = "wss://livekit.reflector-test";

export interface Received {
  method: string;
  path: string;
  body: Record<string, unknown> | null;
}

export interface FakeProviders {
  url: string;
  received: Received[];
  /** When set, the `url` of the rooms POST /daily/rooms creates (given the room's name), in place
   * of `${DAILY_DOMAIN}/${name}`: a test can make Daily answer with a broken URL. */
  dailyRoomUrl: ((name: string) => string) | null;
  close: () => Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown> | null> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null; // multipart logo uploads and the like
  }
}

export async function startFakeProviders(): Promise<FakeProviders> {
  const received: Received[] = [];
  let n = 0;
  // Filled in once the server listens; tests set `dailyRoomUrl` on it between requests.
  const fake: FakeProviders = { url: "", received, dailyRoomUrl: null, close: async () => undefined };
  const server: Server = createServer(async (req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const body = await readBody(req);
    received.push({ method: req.method ?? "", path, body });
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    n += 1;
    if (req.method === "POST" && path === "/daily/rooms") {
      const name = String(body?.name ?? `room-${n}`);
      const url = fake.dailyRoomUrl ? fake.dailyRoomUrl(name) : `${DAILY_DOMAIN}/${name}`;
      return json(200, { id: `daily-${n}`, name, url });
    }
    if (req.method === "POST" && path === "/daily/meeting-tokens") {
      return json(200, { token: `token-${n}` });
    }
    if (req.method === "GET" && /^\/daily\/rooms\/[^/]+\/presence$/.test(path)) {
      return json(200, { total_count: 0, data: [] });
    }
    if (req.method === "POST" && path === "/whereby/meetings") {
      const room = `reflector-${n}`;
      return json(201, {
        meetingId: `whereby-${n}`,
        roomName: `/${room}`,
        roomUrl: `${WHEREBY_DOMAIN}/${room}`,
        hostRoomUrl: `${WHEREBY_DOMAIN}/${room}?roomKey=host-key-${n}`,
        startDate: new Date().toISOString(),
        endDate: String(body?.endDate ?? new Date(Date.now() + 3600_000).toISOString()),
      });
    }
    if (req.method === "POST" && path === "/livekit/twirp/livekit.RoomService/CreateRoom") {
      return json(200, { sid: `RM_${n}`, name: String(body?.name ?? ""), emptyTimeout: body?.empty_timeout });
    }
    if (req.method === "POST" && path.startsWith("/livekit/twirp/")) {
      return json(200, {});
    }
    if (req.method === "GET" && path === "/whereby/insights/room-sessions") {
      return json(200, { results: [] });
    }
    return json(200, {});
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  fake.url = `http://127.0.0.1:${port}`;
  fake.close = () => new Promise((ok) => server.close(() => ok()));
  return fake;
}

/** Daily's call page, standing in for the prebuilt UI: it speaks the daily-js frame protocol
 * (load, join, participants, recording started, leave) and shows what it was asked to do. It
 * does not see our server's REST calls, so a test reports a started recording with a click. */
export const DAILY_STAND_IN = `<!doctype html><html><body style="font-family:sans-serif;background:#1d2733;color:#fff">
<h1>Daily stand-in</h1>
<p>URL: <span id="url"></span></p>
<p>Joined with token: <span id="token">(not joined)</span></p>
<button id="add">Someone else joins</button> <button id="recording">Recording starts</button> <button id="leave">Leave</button>
<script>
const params = new URLSearchParams(location.search);
const callClientId = params.get("emb");
document.getElementById("url").textContent = location.href;
const post = (msg) => parent.postMessage({ what: "iframe-call-message", callClientId, from: "embedded", ...msg }, "*");
const local = { session_id: "local-1", user_id: "local", user_name: "Local", local: true, owner: true, joined_at: new Date().toISOString() };
window.addEventListener("message", (e) => {
  const m = e.data || {};
  if (m.what !== "iframe-call-message") return;
  if (m.action === "join-meeting") {
    document.getElementById("token").textContent = (m.properties && m.properties.token) || params.get("t") || "(none)";
    post({ action: "joined-meeting", participants: { local } });
  }
});
document.getElementById("add").onclick = () => post({ action: "participant-joined", participant: { session_id: "remote-2", user_name: "Remote", local: false, joined_at: new Date().toISOString() } });
document.getElementById("recording").onclick = () => post({ action: "recording-started" });
document.getElementById("leave").onclick = () => post({ action: "left-meeting" });
post({ action: "iframe-ready-for-launch-config" });
post({ action: "loaded" });
</script></body></html>`;

/** Whereby's room page, standing in for whereby.com: shows its URL and sends the embed's
 * "leave" event the way Whereby does (postMessage to the embedding page). */
export const WHEREBY_STAND_IN = `<!doctype html><html><body style="font-family:sans-serif;background:#f3f0ea">
<h1>Whereby stand-in</h1><p id="url"></p><button id="leave">Leave</button>
<script>
document.getElementById("url").textContent = location.href;
document.getElementById("leave").onclick = () => parent.postMessage({ type: "leave", payload: { removed: false } }, "*");
</script></body></html>`;
