// A room that follows a calendar may have several meetings at once: its page lists the running
// ones to join, and can start another.
import { expect, test } from "@playwright/test";
import { createRoom, startServer, type Server } from "./server";
import { shot } from "./shots";

let server: Server;

test.beforeAll(async () => {
  server = await startServer();
  await createRoom(server.url, {
      name: "planning",
      ics_enabled: true,
      ics_url: "https://calendar.example.com/team.ics",
      skip_consent: true,
    });
});

test.afterAll(async () => {
  await server?.stop();
});

const meetingIdOf = (url: string) => new URL(url).pathname.split("/")[2];
const activeCount = async () =>
  (await (await fetch(`${server.url}/v1/rooms/planning/meetings/active`)).json()).length as number;

test("a calendar room lists its running meetings, can start another, and its owner can end one", async ({
  page,
  browser,
}) => {
  // Each start is one create request, made by the click (not by loading the page).
  const creates: string[] = [];
  page.on("request", (r) => {
    if (r.method() === "POST" && r.url().endsWith("/v1/rooms/planning/meeting")) creates.push(r.postData() ?? "");
  });
  await page.goto(`${server.url}/planning`);
  await expect(page.getByTestId("meeting-chooser")).toContainText("No meeting is running");
  await page.getByRole("button", { name: "Start a meeting now" }).click();
  await expect(page.getByTestId("mock-frame")).toBeVisible();
  const started = meetingIdOf(page.url());
  expect(started).toMatch(/^[0-9a-f-]{36}$/);
  expect(creates.map((b) => JSON.parse(b))).toEqual([{ allow_duplicated: false }]);

  const other = await (await browser.newContext()).newPage();
  await other.goto(`${server.url}/planning`);
  const chooser = other.getByTestId("meeting-chooser");
  await expect(chooser.getByRole("button", { name: "Join" })).toHaveCount(1);
  await shot(other, "room-calendar-chooser");
  await chooser.getByRole("button", { name: "Join" }).click();
  await expect(other.getByTestId("mock-frame")).toBeVisible();
  expect(meetingIdOf(other.url())).toBe(started);

  // "Start another meeting" creates one and opens it at its own address: reloading, or trying
  // again, keeps that meeting instead of creating more.
  await page.goto(`${server.url}/planning`);
  await page.getByRole("button", { name: "Start another meeting" }).click();
  await expect(page.getByTestId("mock-frame")).toBeVisible();
  const another = meetingIdOf(page.url());
  expect(another).toMatch(/^[0-9a-f-]{36}$/);
  expect(another).not.toBe(started);
  await page.reload();
  await expect(page.getByTestId("mock-frame")).toBeVisible();
  expect(meetingIdOf(page.url())).toBe(another);
  expect(creates).toHaveLength(2);
  expect(JSON.parse(creates[1])).toEqual({ allow_duplicated: true });
  expect(await activeCount()).toBe(2);

  // The owner (everyone is, in single-user mode) ends one from the list, after confirming.
  await page.goto(`${server.url}/planning`);
  const list = page.getByTestId("meeting-chooser");
  await expect(list.getByRole("button", { name: "Join" })).toHaveCount(2);
  await list.getByTestId(`meeting-${started}`).getByRole("button", { name: "End" }).click();
  const confirm = page.getByRole("dialog");
  await confirm.getByRole("button", { name: "Cancel" }).click();
  await expect(confirm).toHaveCount(0);
  expect(await activeCount()).toBe(2);
  await list.getByTestId(`meeting-${started}`).getByRole("button", { name: "End" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "End meeting" }).click();
  await expect(list.getByRole("button", { name: "Join" })).toHaveCount(1);
  await expect(list.getByTestId(`meeting-${started}`)).toHaveCount(0);
  await expect(list.getByTestId(`meeting-${another}`)).toBeVisible();
  expect(await activeCount()).toBe(1);
  // The page that was in the ended meeting learns it from its poll.
  await expect(other.getByTestId("meeting-ended")).toBeVisible();
  await other.context().close();
});
