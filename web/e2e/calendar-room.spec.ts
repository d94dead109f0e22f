// A room that follows a calendar may have several meetings at once: its page lists the running
// ones to join, and can start another.
import { expect, test } from "@playwright/test";
import { startServer, type Server } from "./server";
import { shot } from "./shots";

let server: Server;

test.beforeAll(async () => {
  server = await startServer();
  const r = await fetch(`${server.url}/v1/rooms`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      name: "planning",
      ics_enabled: true,
      ics_url: "https://calendar.example.com/team.ics",
      skip_consent: true,
    }),
  });
  expect(r.status).toBe(200);
});

test.afterAll(async () => {
  await server?.stop();
});

test("a calendar room lists its running meetings and can start another", async ({ page, browser }) => {
  await page.goto(`${server.url}/planning`);
  await expect(page.getByTestId("meeting-chooser")).toContainText("No meeting is running");
  await page.getByRole("button", { name: "Start a meeting now" }).click();
  await expect(page.getByTestId("mock-frame")).toBeVisible();

  const other = await (await browser.newContext()).newPage();
  await other.goto(`${server.url}/planning`);
  const chooser = other.getByTestId("meeting-chooser");
  await expect(chooser.getByRole("button", { name: "Join" })).toHaveCount(1);
  await shot(other, "room-calendar-chooser");
  await chooser.getByRole("button", { name: "Join" }).click();
  await expect(other.getByTestId("mock-frame")).toBeVisible();
  const first = new URL(other.url()).pathname.split("/")[2];
  expect(first).toMatch(/^[0-9a-f-]{36}$/);

  await other.goto(`${server.url}/planning`);
  await other.getByRole("button", { name: "Start another meeting" }).click();
  await expect(other.getByTestId("mock-frame")).toBeVisible();
  await other.goto(`${server.url}/planning`);
  await expect(other.getByTestId("meeting-chooser").getByRole("button", { name: "Join" })).toHaveCount(2);
  await other.context().close();
});
