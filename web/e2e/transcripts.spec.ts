// Transcripts in the browser against the real server and its real pipeline: mock calls are
// recorded by the mock provider (a tone per participant), stored, and transcribed by a fake
// OpenAI-compatible server in the test (e2e/fake-transcription.ts) that gives each speaker's tone
// its own words; the same fake answers the summariser. Then the pages: the list, search with
// highlighted snippets, the transcript page, its status while processing and its error, consent
// cleanup, and the room page's link.
import { expect, test, type Browser, type Page } from "@playwright/test";
import { createRoom, mockCall, startServer, transcriptOf, transcriptReaches, type Server } from "./server";
import { startFakeTranscription, transcriptionEnv, type FakeTranscription } from "./fake-transcription";
import { shot } from "./shots";

let server: Server;
let fake: FakeTranscription;

const ALICE = "we should ship the quarterly roadmap before the offsite";
const BOB = "agreed the roadmap needs a budget line for hiring";

/** The first participant's tone (220 Hz) speaks in the first half of the call, the second's
 * (440 Hz) in the second, so the text reads as a conversation. */
function conversation() {
  fake.reset();
  fake.say(220, ALICE, [0, 0.45]);
  fake.say(440, BOB, [0.55, 1]);
}

/** A summary built from what the summariser was sent, so it shows the pipeline's real text. */
function summarise(prompt: string) {
  const lines = prompt.split("\n").filter(Boolean);
  const roadmap = /roadmap/.test(prompt);
  return {
    title: roadmap ? "Quarterly roadmap review" : "Budget check",
    short_summary: `${lines.length} lines; the team discussed ${roadmap ? "the quarterly roadmap" : "the budget"}.`,
    long_summary: `The summariser read:\n${lines.join("\n")}`,
    topics: [
      { title: "Shipping the roadmap", summary: "When the roadmap ships.", start: 0 },
      { title: "Budget for hiring", summary: "A budget line for hiring.", start: 1 },
    ],
  };
}

test.beforeAll(async () => {
  fake = await startFakeTranscription();
  conversation();
  fake.summary = summarise;
  server = await startServer({
    ...transcriptionEnv(fake),
    MEETING_EMPTY_GRACE_SECONDS: "0",
    MEETING_LIFECYCLE_INTERVAL_SECONDS: "1",
    PRESENCE_RECONCILIATION_INTERVAL_SECONDS: "1",
  });
});

test.afterAll(async () => {
  await server?.stop();
  await fake?.close();
});

async function participant(browser: Browser, name: string, roomName: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.url}/${roomName}`);
  const dialog = page.getByTestId("consent-dialog");
  await dialog.getByRole("button", { name: "I agree to be recorded" }).click();
  await expect(dialog).toBeHidden();
  const call = page.frameLocator('[data-testid="mock-frame"]');
  await call.getByPlaceholder("Your name").fill(name);
  await call.getByRole("button", { name: "Join" }).click();
  await expect(call.locator("li.me")).toHaveText(name);
  return page;
}

test("a two-person mock meeting ends, is transcribed, searchable, and shown in the browser", async ({ browser }) => {
  await createRoom(server.url, { name: "roadmap", platform: "mock", recording_type: "cloud" });
  const alice = await participant(browser, "Alice", "roadmap");
  const bob = await participant(browser, "Bob", "roadmap");
  await expect(bob.getByTestId("participants")).toHaveText("2 participants");
  // No transcript yet: the room page has no link to any.
  await expect(alice.getByTestId("room-transcripts")).toHaveCount(0);

  // Both leave: the call ends, the mock records it, the server stores it and runs the pipeline.
  await alice.getByTestId("leave").click();
  await bob.getByTestId("leave").click();
  await expect(bob.getByTestId("left")).toBeVisible();

  // The room page links to the room's transcripts as soon as the meeting has one.
  const link = bob.getByTestId("room-transcripts");
  await expect(link).toHaveText("1 transcript", { timeout: 60_000 });
  await link.click();
  await expect(bob).toHaveURL(/\/transcripts\?room_id=/);
  const list = bob.getByTestId("transcript-list");
  await expect(list.getByRole("link", { name: "Quarterly roadmap review" })).toBeVisible({ timeout: 60_000 });
  await expect(list.getByTestId("status")).toHaveText("Ready");
  await expect(bob.getByTestId("room-filter")).toHaveValue(/.+/);
  await expect(bob.getByTestId("room-filter").locator("option:checked")).toHaveText("roadmap");

  // The backend got one request per track, in the documented form.
  expect(fake.requests).toHaveLength(2);
  for (const r of fake.requests) {
    expect(r.authorization).toBe("Bearer e2e-transcribe-key");
    expect(r.fields).toMatchObject({
      model: "whisper-e2e",
      language: "en",
      response_format: "verbose_json",
      "timestamp_granularities[]": "word",
    });
  }
  expect(fake.requests.map((r) => Math.round(r.hz / 10) * 10).sort()).toEqual([220, 440]);

  // The transcript page: title, summaries, topics, speakers, the timestamped text, the audio.
  await list.getByRole("link", { name: "Quarterly roadmap review" }).click();
  const page = bob;
  await expect(page.getByTestId("transcript-title")).toHaveText("Quarterly roadmap review");
  await expect(page.getByTestId("summary-text")).toContainText("the team discussed the quarterly roadmap");
  await page.getByRole("button", { name: "Long" }).click();
  await expect(page.getByTestId("summary-text")).toContainText("The summariser read:");
  await expect(page.getByTestId("summary-text")).toContainText("Speaker 0: we should ship");
  await expect(page.getByTestId("topics")).toContainText("Shipping the roadmap");
  await expect(page.getByTestId("topics")).toContainText("Budget for hiring");
  await expect(page.getByTestId("speakers").locator("li")).toHaveText(["Speaker 0", "Speaker 1"]);
  const segments = page.getByTestId("segment");
  await expect(segments).toHaveCount(2);
  await expect(segments.nth(0)).toContainText("0:00");
  await expect(segments.nth(0)).toContainText("Speaker 0");
  await expect(segments.nth(0)).toContainText(ALICE);
  await expect(segments.nth(1)).toContainText("0:01");
  await expect(segments.nth(1)).toContainText("Speaker 1");
  await expect(segments.nth(1)).toContainText(BOB);
  const audio = page.getByTestId("audio");
  await expect(audio).toBeVisible();
  await expect.poll(() => audio.evaluate((a: HTMLAudioElement) => a.readyState)).toBeGreaterThan(0);
  expect(await audio.evaluate((a: HTMLAudioElement) => Math.round(a.duration))).toBe(2);
  await shot(page, "transcript-page", { fullPage: true });

  // Search from the list: matches are highlighted, the rest is plain text.
  await page.getByRole("link", { name: "Transcripts", exact: true }).click();
  await page.getByRole("searchbox", { name: "Search transcripts" }).fill("budget");
  await page.getByRole("button", { name: "Search" }).click();
  await expect(page).toHaveURL(/\/transcripts\?q=budget/);
  await expect(page.getByTestId("search-summary")).toHaveText("1 transcript matches “budget”.");
  const marks = page.getByTestId("snippets").locator("mark");
  await expect(marks.first()).toHaveText("budget");
  await expect(page.getByTestId("snippets")).toContainText("needs a budget line");
  await shot(page, "transcripts-search");
  await page.getByRole("searchbox", { name: "Search transcripts" }).fill("offsite");
  await page.getByRole("button", { name: "Search" }).click();
  await expect(page.getByTestId("snippets").locator("mark").first()).toHaveText("offsite");
  await page.getByRole("searchbox", { name: "Search transcripts" }).fill("nothing-like-this");
  await page.getByRole("button", { name: "Search" }).click();
  await expect(page.getByTestId("transcripts-empty")).toContainText("No transcript mentions “nothing-like-this”");

  // The next meeting in the room links to its transcripts from the start.
  const again = await browser.newPage();
  await again.goto(`${server.url}/roadmap`);
  await again.getByTestId("consent-dialog").getByRole("button", { name: "I agree to be recorded" }).click();
  await expect(again.getByTestId("room-transcripts")).toHaveText("1 transcript");
  await alice.context().close();
  await bob.context().close();
  await again.close();
});

test("the transcript page shows the status while processing, then the result without a reload", async ({ page }) => {
  await createRoom(server.url, { name: "held", platform: "mock", recording_type: "cloud", skip_consent: true });
  const release = fake.hold();
  const before = fake.requests.length;
  const meetingId = await mockCall(server.url, "held", ["Ada", "Bo"]);
  const t = await transcriptOf(server.url, meetingId);
  await page.goto(`${server.url}/transcripts/${t.id}`);
  // The backend holds the first request: the transcript is processing.
  await expect.poll(() => fake.requests.length).toBeGreaterThan(before);
  await expect(page.getByTestId("transcript-processing")).toContainText("Transcribing…");
  await expect(page.getByTestId("status")).toHaveText("Processing");
  await expect(page.getByTestId("transcript-text")).toHaveCount(0);
  // A run in progress cannot be started again from the page.
  await expect(page.getByTestId("reprocess")).toBeDisabled();
  await shot(page, "transcript-processing");

  // The list shows it processing too.
  await page.getByRole("link", { name: "← All transcripts" }).click();
  await expect(page.getByTestId(`transcript-${t.id}`).getByTestId("status")).toHaveText("Processing");
  await page.goBack();

  release();
  await expect(page.getByTestId("transcript-processing")).toBeHidden({ timeout: 30_000 });
  await expect(page.getByTestId("status")).toHaveText("Ready");
  await expect(page.getByTestId("segment")).toHaveCount(2);
  await expect(page.getByTestId("transcript-title")).toHaveText("Quarterly roadmap review");
});

test("a failed transcript shows the backend's error, and processing it again fixes it", async ({ page }) => {
  await createRoom(server.url, { name: "failing", platform: "mock", recording_type: "cloud", skip_consent: true });
  fake.failNext(400, "this model does not accept that audio");
  const before = fake.requests.length;
  const meetingId = await mockCall(server.url, "failing", ["Ada", "Bo"]);
  const t = await transcriptOf(server.url, meetingId);
  await transcriptReaches(server.url, t.id, "error");
  // The refusal is final: the run stopped at the first track.
  expect(fake.requests.length - before).toBe(1);

  await page.goto(`${server.url}/transcripts?room_id=${encodeURIComponent((await roomId("failing")) ?? "")}`);
  const item = page.getByTestId(`transcript-${t.id}`);
  await expect(item.getByTestId("status")).toHaveText("Failed");
  await expect(item.getByTestId("list-error")).toContainText("this model does not accept that audio");
  await item.getByRole("link").click();

  const error = page.getByTestId("transcript-error");
  await expect(error).toContainText("The transcript could not be made.");
  await expect(error).toContainText("HTTP 400");
  await expect(error).toContainText("this model does not accept that audio");
  await shot(page, "transcript-error");

  // The owner processes it again: it runs, and the page follows it to the end.
  await page.getByTestId("reprocess").click();
  await expect(page.getByTestId("transcript-error")).toBeHidden({ timeout: 30_000 });
  await expect(page.getByTestId("status")).toHaveText("Ready", { timeout: 30_000 });
  await expect(page.getByTestId("segment")).toHaveCount(2);
  // One more run: a request per track.
  expect(fake.requests.length - before).toBe(3);
  await expect(page.getByTestId("reprocess")).toBeEnabled();

  // Rename, then delete.
  await page.getByRole("button", { name: "Rename" }).click();
  await page.getByRole("textbox", { name: "Title" }).fill("Fixed after a retry");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByTestId("transcript-title")).toHaveText("Fixed after a retry");
  const found = (await (await fetch(`${server.url}/v1/transcripts/search?q=retry`)).json()) as { total: number };
  expect(found.total).toBe(1);
  await page.getByRole("button", { name: "Delete" }).click();
  await page.getByTestId("delete-dialog").getByRole("button", { name: "Delete transcript" }).click();
  await expect(page).toHaveURL(`${server.url}/transcripts`);
  expect((await fetch(`${server.url}/v1/transcripts/${t.id}`)).status).toBe(404);
});

test("after a participant declined consent the audio is gone and the page says why", async ({ page }) => {
  await createRoom(server.url, { name: "declined", platform: "mock", recording_type: "cloud" });
  const meetingId = await mockCall(server.url, "declined", ["Ada", "Bo"], { decline: true });
  const t = await transcriptOf(server.url, meetingId);
  await transcriptReaches(server.url, t.id, "ended");
  const audio = await fetch(`${server.url}/v1/transcripts/${t.id}/audio/mp3`);
  expect(audio.status).toBe(404);
  const detail = ((await audio.json()) as { detail: string }).detail;
  expect(detail).toBe("Audio unavailable due to privacy settings");

  await page.goto(`${server.url}/transcripts/${t.id}`);
  await expect(page.getByTestId("audio-unavailable")).toContainText(detail);
  await expect(page.getByTestId("audio")).toHaveCount(0);
  await expect(page.getByTestId("segment")).toHaveCount(2);
  await expect(page.getByTestId("reprocess")).toBeDisabled();
  await shot(page, "transcript-audio-deleted");
});

test("search snippets show the transcript's text as text, never as markup", async ({ page }) => {
  await createRoom(server.url, { name: "markup", platform: "mock", recording_type: "cloud", skip_consent: true });
  // One speaker, whose words look like HTML.
  fake.reset();
  fake.say(220, 'zebra <img src=x onerror="document.title=1"> crossing <b>bold</b>');
  const meetingId = await mockCall(server.url, "markup", ["Solo"]);
  const t = await transcriptOf(server.url, meetingId);
  await transcriptReaches(server.url, t.id, "ended");
  conversation();

  await page.goto(`${server.url}/transcripts?q=zebra`);
  const snippets = page.getByTestId("snippets");
  await expect(snippets.locator("mark").first()).toHaveText("zebra");
  await expect(snippets).toContainText('<img src=x onerror="document.title=1">');
  await expect(snippets.locator("img, b")).toHaveCount(0);
  await page.goto(`${server.url}/transcripts/${t.id}`);
  await expect(page.getByTestId("segment").first()).toContainText("<b>bold</b>");
  await expect(page.getByTestId("transcript-text").locator("img, b")).toHaveCount(0);
  expect(await page.title()).not.toBe("1");
});

test("the transcripts list pages, filters by room, and links each item", async ({ page }) => {
  await page.goto(`${server.url}/transcripts`);
  await expect(page.getByRole("heading", { name: "Transcripts" })).toBeVisible();
  const items = page.getByTestId("transcript-list").locator("li");
  const total = ((await (await fetch(`${server.url}/v1/transcripts`)).json()) as { total: number }).total;
  await expect(items).toHaveCount(total);
  await shot(page, "transcripts-list");

  await page.getByTestId("room-filter").selectOption({ label: "declined" });
  await expect(page).toHaveURL(/room_id=/);
  await expect(items).toHaveCount(1);
  await expect(items.first()).toContainText("declined");
  await page.getByTestId("room-filter").selectOption({ label: "All rooms" });
  await expect(items).toHaveCount(total);

  // An unknown transcript says so.
  await page.goto(`${server.url}/transcripts/00000000-0000-0000-0000-000000000000`);
  await expect(page.getByTestId("transcript-not-found")).toBeVisible();
});

async function roomId(name: string): Promise<string | undefined> {
  const r = await fetch(`${server.url}/v1/rooms/name/${name}`);
  return ((await r.json()) as { id?: string }).id;
}

/** `seconds` of a `hz` tone as 44.1 kHz stereo 16-bit WAV (176 KB a second). */
function toneWav(hz: number, seconds: number): Buffer {
  const rate = 44_100;
  const frames = rate * seconds;
  const data = frames * 4;
  const wav = Buffer.alloc(44 + data);
  wav.write("RIFF", 0, "ascii");
  wav.writeUInt32LE(36 + data, 4);
  wav.write("WAVEfmt ", 8, "ascii");
  wav.writeUInt32LE(16, 16);
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(2, 22); // stereo
  wav.writeUInt32LE(rate, 24);
  wav.writeUInt32LE(rate * 4, 28);
  wav.writeUInt16LE(4, 32);
  wav.writeUInt16LE(16, 34);
  wav.write("data", 36, "ascii");
  wav.writeUInt32LE(data, 40);
  for (let i = 0; i < frames; i++) {
    const v = Math.round(Math.sin((2 * Math.PI * hz * i) / rate) * 8000);
    wav.writeInt16LE(v, 44 + i * 4);
    wav.writeInt16LE(v, 46 + i * 4);
  }
  return wav;
}

test("uploading a recording shows its progress chunk by chunk, then the transcript", async ({ page }) => {
  const LEASE = "the warehouse lease renews in march";
  fake.say(330, LEASE);
  const file = toneWav(330, 100); // 17.6 MB: three chunks of at most 8 MiB
  const chunks: string[] = [];
  let releaseSecond = () => undefined as void;
  const secondHeld = new Promise<void>((ok) => (releaseSecond = ok));
  await page.route(/\/record\/upload\?/, async (route) => {
    const query = new URL(route.request().url()).searchParams;
    chunks.push(`${query.get("chunk_number")}/${query.get("total_chunks")}`);
    if (query.get("chunk_number") === "1") await secondHeld;
    await route.continue();
  });

  await page.goto(`${server.url}/transcripts`);
  await page.getByTestId("upload-open").click();
  const dialog = page.getByTestId("upload-dialog");
  await dialog.getByLabel("File").setInputFiles({ name: "lease-call.wav", mimeType: "audio/wav", buffer: file });
  await expect(dialog.getByLabel("Name")).toHaveValue("lease-call");
  await dialog.getByLabel("Name").fill("Warehouse lease call");
  const created = page.waitForResponse((r) => r.url().endsWith("/v1/transcripts") && r.request().method() === "POST");
  await dialog.getByRole("button", { name: "Upload" }).click();
  expect((await created).request().postDataJSON()).toEqual({
    name: "Warehouse lease call",
    source_language: "en",
    target_language: "en",
  });

  // The first chunk is in, the second is held: the bar stands at 8 MiB of 17.6 MB.
  const percent = Math.floor(((8 * 1024 * 1024) / file.length) * 100);
  await expect(dialog.getByTestId("upload-percent")).toHaveText(new RegExp(`^${percent}% · 8\\.0 MB of 16\\.8 MB$`));
  await expect(dialog.getByRole("progressbar", { name: "Upload progress" })).toHaveAttribute("value", String(percent));
  await expect(dialog.getByRole("button", { name: "Uploading…" })).toBeDisabled();
  await shot(page, "upload-progress");
  releaseSecond();

  // Done: the page goes to the new transcript, which the pipeline then finishes.
  await expect(page).toHaveURL(/\/transcripts\/[0-9a-f-]{36}$/, { timeout: 60_000 });
  expect(chunks).toEqual(["0/3", "1/3", "2/3"]);
  await expect(page.getByTestId("status")).toHaveText("Ready", { timeout: 60_000 });
  await expect(page.getByTestId("segment")).toHaveCount(1);
  await expect(page.getByTestId("segment").first()).toContainText(LEASE);
  await expect(page.getByText("uploaded file")).toBeVisible();
  await expect(page.getByTestId("audio")).toBeVisible();
  await expect(page.getByTestId("transcript-title")).toHaveText("Budget check");
  await expect(page.getByText("Warehouse lease call")).toBeVisible();
});

test("an upload the server refuses shows the server's reason", async ({ page }) => {
  await page.goto(`${server.url}/transcripts`);
  await page.getByTestId("upload-open").click();
  const dialog = page.getByTestId("upload-dialog");
  await dialog
    .getByLabel("File")
    .setInputFiles({ name: "notes.mp3", mimeType: "audio/mpeg", buffer: Buffer.from("these are meeting notes, not audio\n") });
  await dialog.getByRole("button", { name: "Upload" }).click();
  // The server probes the assembled file and says why it refuses it.
  await expect(dialog.getByTestId("upload-error")).toContainText("is not readable media");
  await expect(dialog.getByTestId("upload-error")).toContainText("upload an audio or video file with sound");
  await expect(dialog.getByRole("button", { name: "Try again" })).toBeEnabled();
  await shot(page, "upload-refused");
  await dialog.getByRole("button", { name: "Close" }).click();
  await expect(dialog).toBeHidden();
});
