// The whole meeting flow on the mock provider against the real server: create a room, open it in
// two browsers, consent, join, see both participants, leave, and see the meeting end.
import { expect, test, type Browser, type Page } from "@playwright/test";
import { createRoom, startServer, type Server } from "./server";
import { shot } from "./shots";

let server: Server;

test.beforeAll(async () => {
  server = await startServer({
    // The meeting ends as soon as everyone has left, and the jobs look every second.
    MEETING_EMPTY_GRACE_SECONDS: "0",
    MEETING_LIFECYCLE_INTERVAL_SECONDS: "1",
    PRESENCE_RECONCILIATION_INTERVAL_SECONDS: "1",
  });
});

test.afterAll(async () => {
  await server?.stop();
});

async function participant(browser: Browser, name: string, roomName: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.url}/${roomName}`);
  const dialog = page.getByTestId("consent-dialog");
  await expect(dialog).toBeVisible();
  const consent = page.waitForResponse((r) => r.url().endsWith("/consent") && r.request().method() === "POST");
  await dialog.getByRole("button", { name: "I agree to be recorded" }).click();
  expect((await consent).status()).toBe(200);
  const body = (await consent).request().postDataJSON();
  expect(body.consent_given).toBe(true);
  expect(body.participant_token).toMatch(/^[0-9a-f-]{36}$/);
  await expect(dialog).toBeHidden();

  const call = page.frameLocator('[data-testid="mock-frame"]');
  await call.getByPlaceholder("Your name").fill(name);
  await call.getByRole("button", { name: "Join" }).click();
  await expect(call.locator("li.me")).toHaveText(name);
  return page;
}

test("create a room, meet in two browsers, leave, and the meeting ends", async ({ browser, page }) => {
  await page.goto(`${server.url}/`);
  await expect(page.getByRole("heading", { name: "Rooms" })).toBeVisible();
  await expect(page.getByText("No rooms yet")).toBeVisible();
  await expect(page.getByTestId("who")).toHaveText("Single-user mode (local)");
  await shot(page, "rooms-empty");

  await page.getByRole("link", { name: "New room" }).click();
  const name = page.getByLabel("Name", { exact: true });
  await name.fill("Team Standup");
  await expect(page.getByTestId("name-rules")).toContainText("“T” is not allowed");
  await name.fill("rooms");
  await expect(page.getByTestId("name-rules")).toContainText("reserved");
  await name.fill("team-standup");
  await expect(page.getByTestId("name-rules")).toHaveText(/1–64 characters/);
  // Only configured platforms can be chosen; the others name the setting they need.
  await expect(page.locator("#platform option[value=mock]")).toBeEnabled();
  await expect(page.locator("#platform option[value=daily]")).toBeDisabled();
  await expect(page.locator("#platform option[value=daily]")).toContainText("DAILY_API_KEY");
  await shot(page, "room-form-new");
  await page.getByRole("button", { name: "Create room" }).click();

  await expect(page.getByTestId("room-team-standup")).toBeVisible();
  await page.getByTestId("room-team-standup").getByRole("button", { name: "Copy link" }).click();
  await expect(page.getByTestId("notice")).toContainText(`${server.url}/team-standup`);
  await shot(page, "rooms-list");

  const alice = await participant(browser, "Alice", "team-standup");
  await expect(alice.getByTestId("recording-indicator")).toBeVisible();
  const bob = await participant(browser, "Bob", "team-standup");

  // Both calls see both people, and the room page follows the server's participant count.
  for (const p of [alice, bob]) {
    await expect(p.frameLocator('[data-testid="mock-frame"]').locator("#count")).toHaveText("2");
    await expect(p.getByTestId("participants")).toHaveText("2 participants");
  }
  expect(new URL(alice.url()).pathname).toBe("/team-standup");
  await shot(alice, "room-mock");

  // The consent answer is remembered per meeting and can be reopened.
  await alice.reload();
  await expect(alice.getByTestId("consent-dialog")).toBeHidden();
  await alice.getByTestId("consent-reopen").click();
  await expect(alice.getByTestId("consent-dialog")).toContainText("Your answer now: you agreed");
  await shot(alice, "consent-reopened");
  await alice.getByTestId("consent-dialog").getByRole("button", { name: "Cancel" }).click();
  // Reloading left the call (the mock page leaves on unload): join again.
  const aliceCall = alice.frameLocator('[data-testid="mock-frame"]');
  await aliceCall.getByPlaceholder("Your name").fill("Alice");
  await aliceCall.getByRole("button", { name: "Join" }).click();
  await expect(bob.getByTestId("participants")).toHaveText("2 participants");

  // Alice leaves from the call itself, Bob with the page's Leave button.
  await aliceCall.getByRole("button", { name: "Leave" }).click();
  await alice.getByTestId("leave").click();
  await expect(alice.getByTestId("left")).toBeVisible();
  await expect(bob.getByTestId("participants")).toHaveText("1 participant");
  await bob.getByTestId("leave").click();
  await expect(bob.getByTestId("left")).toBeVisible();

  // A page that left stops asking about the meeting.
  const asked = (p: typeof alice) => {
    const seen = { n: 0 };
    p.on("request", (r) => {
      if (r.method() === "GET" && /\/v1\/rooms\/[^/]+\/meetings\/[0-9a-f-]{36}$/.test(r.url())) seen.n++;
    });
    return seen;
  };
  const bobAsks = asked(bob);

  // Everyone left: the lifecycle job ends the meeting, and pages that rejoin learn it at once.
  await expect
    .poll(async () => (await (await fetch(`${server.url}/v1/rooms/team-standup/meetings/active`)).json()).length, {
      timeout: 30_000,
    })
    .toBe(0);
  expect(bobAsks.n).toBe(0);
  for (const p of [alice, bob]) {
    await p.getByRole("button", { name: "Rejoin" }).click();
    await expect(p.getByTestId("meeting-ended")).toBeVisible();
  }
  expect(bobAsks.n).toBeGreaterThan(0);
  await shot(bob, "meeting-ended");

  // Opening the room again starts a new meeting.
  await bob.getByRole("button", { name: "Join the room again" }).click();
  await expect(bob.getByTestId("consent-dialog")).toBeVisible();
  await alice.context().close();
  await bob.context().close();
});

test("the meeting poll pauses while the tab is hidden and asks at once when it is shown", async ({ page }) => {
  await createRoom(server.url, { name: "poll-visibility", platform: "mock", recording_type: "none" });
  // The page's timers run on Playwright's clock, paused once the page is up: the test moves time
  // on, so the 3 s poll is never waited for.
  await page.clock.install();
  const isPoll = (url: string) => /\/v1\/rooms\/poll-visibility\/meetings\/[0-9a-f-]{36}$/.test(url);
  let polls = 0;
  page.on("request", (req) => {
    if (req.method() === "GET" && isPoll(req.url())) polls++;
  });
  /** Moves the page's time on in small steps until `n` polls went out (the next poll is only
   * scheduled once the previous answer arrived, which takes real time). */
  const pollsReach = (n: number) =>
    expect
      .poll(async () => {
        await page.clock.runFor(500);
        return polls;
      }, { intervals: [50] })
      .toBe(n);
  const setVisibility = (hidden: boolean) =>
    page.evaluate((hidden) => {
      Object.defineProperty(document, "visibilityState", { value: hidden ? "hidden" : "visible", configurable: true });
      Object.defineProperty(document, "hidden", { value: hidden, configurable: true });
      document.dispatchEvent(new Event("visibilitychange"));
    }, hidden);

  await page.goto(`${server.url}/poll-visibility`);
  await expect(page.getByTestId("participants")).toHaveText("0 participants");
  await page.clock.pauseAt(await page.evaluate(() => Date.now() + 100));

  // Visible: the page asks every 3 s.
  const answered = page.waitForResponse((res) => isPoll(res.url()));
  await pollsReach(1);
  await answered;

  // Hidden: a minute passes without a request. Requests are seen in the order the page makes
  // them, so once this fetch is seen any poll made during that minute has been seen too.
  await setVisibility(true);
  await page.clock.runFor(60_000);
  const marker = page.waitForRequest((req) => req.url().endsWith("/health?marker"));
  await page.evaluate(() => fetch("/health?marker"));
  await marker;
  expect(polls).toBe(1);

  // Shown again: it asks at once, with no time passing, then every 3 s again.
  const atOnce = page.waitForResponse((res) => isPoll(res.url()), { timeout: 5_000 });
  await setVisibility(false);
  await atOnce;
  expect(polls).toBe(2);
  await pollsReach(3);
});
