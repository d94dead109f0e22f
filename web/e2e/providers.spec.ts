// The Daily, Whereby and LiveKit components with their real SDKs (daily-js, <whereby-embed>,
// livekit-client), against the
// real server configured for both providers. The providers' REST APIs are a local fake
// (fake-providers.ts); their call pages are stand-ins served through Playwright's routing, since
// this machine has no internet. All API calls of the page go to our real server.
import { createHash } from "node:crypto";
import { expect, test, type Page } from "@playwright/test";
import { createRoom, startServer, type Server } from "./server";
import {
  DAILY_DOMAIN,
  DAILY_STAND_IN,
  LIVEKIT_PUBLIC,
  startFakeProviders,
  WHEREBY_DOMAIN,
  WHEREBY_STAND_IN,
  type FakeProviders,
} from "./fake-providers";
import { shot } from "./shots";

let server: Server;
let fake: FakeProviders;

test.beforeAll(async () => {
  fake = await startFakeProviders();
  server = await startServer({
    DEFAULT_VIDEO_PLATFORM: "mock",
    DAILY_API_KEY: "daily-test-key",
    DAILY_API_URL: `${fake.url}/daily`,
    DAILYCO_STORAGE_AWS_BUCKET_NAME: "daily-bucket",
    DAILYCO_STORAGE_AWS_REGION: "eu-west-1",
    DAILYCO_STORAGE_AWS_ROLE_ARN: "arn:aws:iam::123456789012:role/daily",
    WHEREBY_API_KEY: "whereby-test-key",
    WHEREBY_API_URL: `${fake.url}/whereby`,
    WHEREBY_STORAGE_AWS_BUCKET_NAME: "whereby-bucket",
    WHEREBY_STORAGE_AWS_REGION: "eu-west-1",
    WHEREBY_STORAGE_AWS_ACCESS_KEY_ID: "AKIATEST",
    WHEREBY_STORAGE_AWS_SECRET_ACCESS_KEY: "secret",
    LIVEKIT_URL: `${fake.url}/livekit`,
    LIVEKIT_PUBLIC_URL: LIVEKIT_PUBLIC,
    LIVEKIT_API_KEY: "livekit-test-key",
    LIVEKIT_API_SECRET: "livekit-test-secret",
  });
});

test.afterAll(async () => {
  await server?.stop();
  await fake?.close();
});

async function standIns(page: Page) {
  await page.route(`${DAILY_DOMAIN}/**`, (route) =>
    route.fulfill({ contentType: "text/html", body: DAILY_STAND_IN }),
  );
  await page.route(`${WHEREBY_DOMAIN}/**`, (route) =>
    route.fulfill({ contentType: "text/html", body: WHEREBY_STAND_IN }),
  );
}

async function agree(page: Page) {
  const dialog = page.getByTestId("consent-dialog");
  await dialog.getByRole("button", { name: "I agree to be recorded" }).click();
  await expect(dialog).toBeHidden();
}

/** UUIDv5 of SPEC §3.3, computed here independently of the app's `uuid` package. */
function uuidV5(name: string, namespace: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ""), "hex");
  const hash = createHash("sha1").update(Buffer.concat([ns, Buffer.from(name)])).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const h = hash.subarray(0, 16).toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

test("the raw-tracks instance id follows SPEC §3.3's vector", () => {
  expect(uuidV5("4ad503b6-8189-4910-a8f7-68cdd1b7f990", "a1b2c3d4-e5f6-7890-abcd-ef1234567890")).toBe(
    "784b3af3-c7dd-57f0-ac54-2ee91c6927cb",
  );
});

test("Daily: the call frame joins with the token and starts both recordings", async ({ page }) => {
  await createRoom(server.url, { name: "daily-room", platform: "daily", recording_type: "cloud", recording_trigger: "automatic" });
  await standIns(page);
  const started: Record<string, unknown>[] = [];
  page.on("request", (r) => {
    if (r.url().includes("/recordings/start")) started.push(r.postDataJSON());
  });
  await page.goto(`${server.url}/daily-room`);
  await agree(page);

  const frame = page.locator('[data-testid="daily-container"] iframe');
  await expect(frame).toHaveCount(1);
  const src = new URL((await frame.getAttribute("src")) ?? "");
  const created = fake.received.find((r) => r.path === "/daily/rooms");
  expect(`${src.origin}${src.pathname}`).toBe(`${DAILY_DOMAIN}/${String(created?.body?.name)}`);
  const tokenRequest = fake.received.find((r) => r.path === "/daily/meeting-tokens");
  const tokenProps = tokenRequest?.body?.properties as Record<string, unknown>;
  expect(tokenProps.room_name).toBe(created?.body?.name);
  expect(tokenProps.is_owner).toBe(true);
  expect(src.searchParams.get("t")).toMatch(/^token-\d+$/);
  await expect(page.frameLocator('[data-testid="daily-container"] iframe').locator("#token")).toHaveText(
    src.searchParams.get("t") ?? "",
  );
  expect(await frame.getAttribute("allow")).toContain("camera");

  // Joined with trigger "automatic": the page starts the cloud and raw-tracks recordings
  // through our server, with the instance ids of SPEC §3.3, and the server asks Daily.
  await expect(page.getByTestId("recording-notes")).toContainText("cloud: started");
  await expect(page.getByTestId("recording-notes")).toContainText("raw-tracks: started");
  const meeting = await (await fetch(`${server.url}/v1/rooms/daily-room/meetings/active`)).json();
  const id = meeting[0].id as string;
  expect(started).toEqual([
    { type: "cloud", instanceId: id },
    { type: "raw-tracks", instanceId: uuidV5(id, "a1b2c3d4-e5f6-7890-abcd-ef1234567890") },
  ]);
  const atDaily = fake.received.filter((r) => r.path.endsWith("/recordings/start")).map((r) => r.body);
  expect(atDaily).toEqual([
    { type: "cloud", instanceId: id },
    { type: "raw-tracks", instanceId: uuidV5(id, "a1b2c3d4-e5f6-7890-abcd-ef1234567890") },
  ]);
  await shot(page, "room-daily");

  // Leaving inside Daily's UI leaves the page's call too.
  await page.frameLocator('[data-testid="daily-container"] iframe').getByRole("button", { name: "Leave" }).click();
  await expect(page.getByTestId("left")).toBeVisible();
});

test("Daily: with the second-participant trigger, recording starts when someone else joins", async ({ page }) => {
  await createRoom(server.url, { name: "daily-pair", platform: "daily", recording_type: "cloud", skip_consent: true });
  await standIns(page);
  await page.goto(`${server.url}/daily-pair`);
  // skip_consent: no dialog, straight into the call.
  const call = page.frameLocator('[data-testid="daily-container"] iframe');
  await expect(call.locator("#token")).toHaveText(/^token-\d+$/);
  await expect(page.getByTestId("consent-dialog")).toHaveCount(0);
  await expect(page.getByTestId("recording-notes")).toHaveCount(0);
  await call.getByRole("button", { name: "Someone else joins" }).click();
  await expect(page.getByTestId("recording-notes")).toContainText("cloud: started");
});

test("Daily: two pages starting the recordings at once both get there, past the server's rate limit", async ({
  browser,
}) => {
  await createRoom(server.url, {
    name: "daily-two",
    platform: "daily",
    recording_type: "cloud",
    recording_trigger: "automatic",
    skip_consent: true,
  });
  const pages = await Promise.all([browser.newPage(), browser.newPage()]);
  for (const page of pages) await standIns(page);
  // Four starts (two kinds, two pages) at the same moment: the server lets two through at once,
  // then one a second, so some answers are 429 and the pages must wait them out.
  await Promise.all(pages.map((page) => page.goto(`${server.url}/daily-two`)));
  for (const page of pages) {
    const notes = page.getByTestId("recording-notes");
    await expect(notes).toContainText(/cloud: (started|already active)/, { timeout: 15_000 });
    await expect(notes).toContainText(/raw-tracks: (started|already active)/, { timeout: 15_000 });
    await expect(notes).not.toContainText("Too many");
  }
  await Promise.all(pages.map((page) => page.close()));
});

test("Daily: with the prompt trigger, nothing records on join and the button starts both recordings", async ({
  page,
}) => {
  await createRoom(server.url, {
    name: "daily-prompt",
    platform: "daily",
    recording_type: "cloud",
    recording_trigger: "prompt",
    skip_consent: true,
  });
  await standIns(page);
  const started: Record<string, unknown>[] = [];
  page.on("request", (r) => {
    if (r.url().includes("/recordings/start")) started.push(r.postDataJSON());
  });
  const before = fake.received.length;
  await page.goto(`${server.url}/daily-prompt`);
  const call = page.frameLocator('[data-testid="daily-container"] iframe');
  await expect(call.locator("#token")).toHaveText(/^token-\d+$/);
  const indicator = page.getByTestId("recording-indicator");
  await expect(indicator).toHaveText("Recording on request");

  // Joined, and someone else joins too: neither starts a recording with this trigger.
  await call.getByRole("button", { name: "Someone else joins" }).click();
  const button = page.getByRole("button", { name: "Start recording" });
  await expect(button).toBeEnabled();
  // Every request the page makes goes out in order: once this one is seen, a recording start
  // made on join would have been seen too.
  await page.evaluate(() => fetch("/health"));
  expect(started).toEqual([]);
  await expect(page.getByTestId("recording-notes")).toHaveCount(0);

  await button.click();
  await expect(page.getByTestId("recording-notes")).toContainText("cloud: started");
  await expect(page.getByTestId("recording-notes")).toContainText("raw-tracks: started");
  await expect(button).toBeDisabled();
  const meeting = await (await fetch(`${server.url}/v1/rooms/daily-prompt/meetings/active`)).json();
  const id = meeting[0].id as string;
  const expected = [
    { type: "cloud", instanceId: id },
    { type: "raw-tracks", instanceId: uuidV5(id, "a1b2c3d4-e5f6-7890-abcd-ef1234567890") },
  ];
  expect(started).toEqual(expected);
  const atDaily = fake.received
    .slice(before)
    .filter((r) => r.path.endsWith("/recordings/start"))
    .map((r) => r.body);
  expect(atDaily).toEqual(expected);

  // Until Daily reports the recording, the badge still says "on request".
  await expect(indicator).toHaveText("Recording on request");
  await call.getByRole("button", { name: "Recording starts" }).click();
  await expect(indicator).toHaveText("Recording");
});

test("Daily: a room URL from Daily that is not a URL shows the provider error, not a blank page", async ({
  page,
}) => {
  await createRoom(server.url, { name: "daily-bad-url", platform: "daily", recording_type: "none" });
  await standIns(page);
  const daily: string[] = [];
  page.on("request", (r) => {
    if (r.url().startsWith(DAILY_DOMAIN)) daily.push(r.url());
  });
  fake.dailyRoomUrl = (name) => `not a url/${name}`;
  try {
    await page.goto(`${server.url}/daily-bad-url`);
    // The server refuses Daily's answer (502, naming the field); the page shows its detail.
    const error = page.getByTestId("provider-error");
    await expect(error).toContainText("The video provider answered with an error");
    await expect(error).toContainText('url "not a url/');
    await expect(error).toContainText("is not an absolute http(s) URL");
  } finally {
    fake.dailyRoomUrl = null;
  }
  // No call frame was made, and nothing was asked of Daily's call pages.
  await expect(page.locator('[data-testid="daily-container"] iframe')).toHaveCount(0);
  expect(daily).toEqual([]);
});

test("Whereby: the embed gets the host URL for the owner, and its leave event is handled", async ({ page }) => {
  await createRoom(server.url, { name: "whereby-room", platform: "whereby", recording_type: "cloud" });
  await standIns(page);
  await page.goto(`${server.url}/whereby-room`);
  await agree(page);

  const embed = page.locator("whereby-embed");
  await expect(embed).toHaveCount(1);
  const created = fake.received.filter((r) => r.path === "/whereby/meetings");
  expect(created).toHaveLength(1);
  expect(created[0]?.body?.roomNamePrefix).toBe("whereby-room-");
  const room = await embed.getAttribute("room");
  expect(room).toMatch(new RegExp(`^${WHEREBY_DOMAIN}/reflector-\\d+\\?roomKey=host-key-\\d+$`));
  const frame = embed.locator("iframe");
  const src = new URL((await frame.getAttribute("src")) ?? "");
  expect(src.origin + src.pathname).toBe(room?.split("?")[0]);
  expect(src.searchParams.get("roomKey")).toMatch(/^host-key-/);
  expect(src.searchParams.get("iframeSource")).toBe("reflector-test");
  expect(src.searchParams.get("leaveButton")).toBe("on");
  await expect(page.frameLocator("whereby-embed iframe").locator("h1")).toHaveText("Whereby stand-in");
  await expect(page.getByTestId("recording-indicator")).toBeVisible();
  await shot(page, "room-whereby");

  await page.frameLocator("whereby-embed iframe").getByRole("button", { name: "Leave" }).click();
  await expect(page.getByTestId("left")).toBeVisible();
});

/** A JWT's claims (not verified: the Rust tests check signatures). */
function claims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8"));
}

test("LiveKit: livekit-client loads only for LiveKit meetings and connects with the join token", async ({ page }) => {
  const scripts: string[] = [];
  page.on("request", (r) => {
    if (r.resourceType() === "script") scripts.push(new URL(r.url()).pathname);
  });
  // The stand-in LiveKit server: records each signalling connection, then refuses the call.
  const sockets: string[] = [];
  await page.routeWebSocket(/^wss:\/\/livekit\.reflector-test\//, (ws) => {
    sockets.push(ws.url());
    ws.close({ code: 1011, reason: "stand-in" });
  });
  await page.route("https://livekit.reflector-test/**", (route) =>
    route.fulfill({ status: 401, contentType: "text/plain", body: "stand-in: no calls here" }),
  );

  // A mock meeting first: no LiveKit code is downloaded for it.
  await createRoom(server.url, { name: "mock-first", platform: "mock", recording_type: "none" });
  await page.goto(`${server.url}/mock-first`);
  await expect(page.getByTestId("mock-frame")).toBeVisible();
  expect(scripts.filter((s) => /livekit/i.test(s))).toEqual([]);

  await createRoom(server.url, { name: "livekit-room", platform: "livekit", recording_type: "none" });
  await page.goto(`${server.url}/livekit-room`);
  await expect(page.getByTestId("livekit-status")).toBeVisible();
  expect(scripts.some((s) => /LiveKitRoom/.test(s))).toBe(true);

  // The server made one LiveKit room for the meeting ...
  const created = fake.received.filter((r) => r.path === "/livekit/twirp/livekit.RoomService/CreateRoom");
  expect(created).toHaveLength(1);
  const name = String(created[0]?.body?.name);
  expect(name).toMatch(/^livekit-room-\d{14}-[0-9a-f]{4}$/);
  // ... and the page connected to LiveKit's public URL with the participant token it was given.
  await expect.poll(() => sockets.length).toBeGreaterThan(0);
  const signal = new URL(sockets[0]!);
  expect(signal.origin).toBe("wss://livekit.reflector-test");
  expect(signal.pathname).toMatch(/^\/rtc(\/v1)?$/);
  const token = signal.searchParams.get("access_token") ?? "";
  const meeting = await (await fetch(`${server.url}/v1/rooms/livekit-room/meetings/active`)).json();
  expect(meeting[0].room_url).toBe(`${LIVEKIT_PUBLIC}?room=${name}`);
  const grant = claims(token);
  expect(grant.iss).toBe("livekit-test-key");
  expect(String(grant.sub)).toMatch(/^local-[0-9a-f]{8}$/);
  expect(grant.video).toMatchObject({ roomJoin: true, room: name, canPublish: true, canSubscribe: true, roomAdmin: true });

  // The stand-in refuses the call: the page says so instead of showing a blank call.
  await expect(page.getByTestId("provider-error")).toContainText("Could not connect to the LiveKit server", {
    timeout: 20_000,
  });
  await shot(page, "room-livekit");
  await page.getByTestId("leave").click();
  await expect(page.getByTestId("left")).toBeVisible();
});
