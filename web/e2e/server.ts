// Starts the real `reflector serve` binary for a spec: a free 127.0.0.1 port, a fresh SQLite
// database in a temp directory, the built web app, and the given settings.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { expect } from "@playwright/test";

const root = resolve(import.meta.dirname, "../..");

export function binary(): string {
  const candidates = [
    process.env.REFLECTOR_BIN,
    join(process.env.CARGO_TARGET_DIR ?? join(root, "target"), "debug/reflector"),
    join(root, "target/release/reflector"),
  ].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(`No reflector binary (looked at ${candidates.join(", ")}): run \`cargo build -p reflector\` or set REFLECTOR_BIN.`);
  }
  return found;
}

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const address = s.address();
      const port = typeof address === "object" && address ? address.port : 0;
      s.close(() => ok(port));
    });
  });
}

export interface Server {
  url: string;
  dataDir: string;
  stop: () => Promise<void>;
  log: () => string;
}

export async function startServer(env: Record<string, string> = {}, dataDir?: string): Promise<Server> {
  const dist = join(root, "web/dist");
  if (!existsSync(join(dist, "index.html"))) throw new Error("web/dist is not built: run `npm run build` in web/.");
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), "reflector-e2e-"));
  let output = "";
  const child: ChildProcess = spawn(binary(), ["serve"], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? "",
      RUST_LOG: "warn",
      HOST: "127.0.0.1",
      PORT: String(port),
      BASE_URL: url,
      DATA_DIR: dir,
      AUTH_BACKEND: "none",
      WEB_DIST_DIR: dist,
      ALLOW_PRIVATE_NETWORK_URLS: "true",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  const exited = new Promise<void>((ok) => child.once("exit", () => ok()));

  // Ready when /health answers; bounded so a broken build fails the test, never hangs it.
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`reflector exited at start-up:\n${output}`);
    try {
      const r = await fetch(`${url}/health`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`reflector did not become healthy in 30 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    dataDir: dir,
    log: () => output,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(killer);
      }
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Creates a room through the API (as the local user, or with `headers`), failing the test with
 * the server's answer unless it is 200; returns the room. */
export async function createRoom(
  url: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const r = await fetch(`${url}/v1/rooms`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  expect(r.status, await r.clone().text()).toBe(200);
  return (await r.json()) as Record<string, unknown>;
}

/** Holds a mock call in room `roomName` through the mock's own page API (no browser): opens the
 * room's meeting, has each of `names` join and then leave, in order. The last to leave ends the
 * call, and a cloud-recorded room's call is recorded: one tone per participant (220 Hz, 440 Hz…).
 * With `decline`, someone declines recording consent first. Returns the meeting id. */
export async function mockCall(
  url: string,
  roomName: string,
  names: string[],
  { decline = false }: { decline?: boolean } = {},
): Promise<string> {
  const r = await fetch(`${url}/v1/rooms/${roomName}/meeting`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ allow_duplicated: false }),
  });
  expect(r.status, await r.clone().text()).toBe(200);
  const meeting = (await r.json()) as { id: string; room_url: string };
  if (decline) {
    const c = await fetch(`${url}/v1/meetings/${meeting.id}/consent`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ consent_given: false, participant_token: "e2e-decliner" }),
    });
    expect(c.status, await c.clone().text()).toBe(200);
  }
  const sessions: string[] = [];
  for (const name of names) {
    const s = await fetch(`${meeting.room_url}/sessions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name }),
    });
    expect(s.status, await s.clone().text()).toBe(201);
    sessions.push(((await s.json()) as { session_id: string }).session_id);
  }
  for (const id of sessions) {
    const l = await fetch(`${meeting.room_url}/sessions/${id}`, { method: "DELETE" });
    expect(l.status).toBe(204);
  }
  return meeting.id;
}

export interface TranscriptSummary {
  id: string;
  status: string;
  meeting_id?: string | null;
  error?: string | null;
}

/** The transcript of meeting `meetingId` once the server has one (any status). */
export async function transcriptOf(url: string, meetingId: string, timeout = 60_000): Promise<TranscriptSummary> {
  let found: TranscriptSummary | undefined;
  await expect
    .poll(
      async () => {
        const page = (await (await fetch(`${url}/v1/transcripts?size=100`)).json()) as { items: TranscriptSummary[] };
        found = page.items.find((t) => t.meeting_id === meetingId);
        return !!found;
      },
      { timeout, message: `no transcript for meeting ${meetingId}` },
    )
    .toBe(true);
  return found as TranscriptSummary;
}

/** Transcript `id` once its status is `status`. */
export async function transcriptReaches(url: string, id: string, status: string, timeout = 60_000) {
  await expect
    .poll(async () => ((await (await fetch(`${url}/v1/transcripts/${id}`)).json()) as TranscriptSummary).status, {
      timeout,
      message: `transcript ${id} never reached ${status}`,
    })
    .toBe(status);
}
