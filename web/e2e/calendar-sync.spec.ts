// A room that follows a calendar: "Sync now" in the room form against an ICS feed served by the
// test (127.0.0.1), its result, the last sync time and error; and the room page listing the
// upcoming meetings with their times and titles.
import { createServer, type Server as HttpServer } from "node:http";
import { expect, test } from "@playwright/test";
import { createRoom, startServer, type Server } from "./server";
import { shot } from "./shots";

let server: Server;
let feed: HttpServer;
let feedUrl = "";
let feedBody = "";

const stamp = (t: Date) => t.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");

function ics(roomUrl: string, now: Date): string {
  const at = (minutes: number) => new Date(now.getTime() + minutes * 60_000);
  const event = (uid: string, title: string, start: number, minutes: number, location: string) =>
    [
      "BEGIN:VEVENT",
      `UID:${uid}`,
      `DTSTART:${stamp(at(start))}`,
      `DTEND:${stamp(at(start + minutes))}`,
      `SUMMARY:${title}`,
      `LOCATION:${location}`,
      "END:VEVENT",
    ].join("\r\n");
  return [
    "BEGIN:VCALENDAR",
    "VERSION:2.0",
    "PRODID:-//Reflector e2e//EN",
    event("design", "Design review ✏️", 90, 30, roomUrl),
    event("retro", "Sprint retro", 180, 60, `Join: ${roomUrl}`),
    event("other", "Another room", 60, 30, `${roomUrl}-2`),
    "END:VCALENDAR",
    "",
  ].join("\r\n");
}

test.beforeAll(async () => {
  feed = createServer((req, res) => {
    if (feedBody.startsWith("BEGIN:VCALENDAR")) {
      res.writeHead(200, { "content-type": "text/calendar" });
    } else {
      res.writeHead(200, { "content-type": "text/html" });
    }
    res.end(feedBody);
  });
  await new Promise<void>((ok) => feed.listen(0, "127.0.0.1", ok));
  const address = feed.address();
  feedUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/team.ics`;
  server = await startServer();
});

test.afterAll(async () => {
  await server?.stop();
  await new Promise((ok) => feed?.close(ok));
});

test("sync a calendar from the room form, then see its upcoming meetings on the room page", async ({ page }) => {
  const room = await createRoom(server.url, {
    name: "design",
    ics_enabled: true,
    ics_url: feedUrl,
    skip_consent: true,
  });
  feedBody = ics(`${server.url}/design`, new Date());

  await page.goto(`${server.url}/rooms/${room.id as string}`);
  await expect(page.getByTestId("last-sync")).toHaveText("never");
  await page.getByRole("button", { name: "Sync now" }).click();
  const result = page.getByTestId("sync-result");
  await expect(result).toContainText("Synced");
  await expect(result).toContainText("2 events for this room (of 3 in the feed) · 2 new, 0 changed, 0 removed");
  await expect(page.getByTestId("last-sync")).not.toHaveText("never");
  await shot(page, "room-form-calendar-synced");

  // The same feed again: unchanged.
  await page.getByRole("button", { name: "Sync now" }).click();
  await expect(result).toContainText("Unchanged since the last sync");

  // A feed that is a web page: the error is shown, and kept as the last error.
  feedBody = "<!doctype html><html><body>Sign in to see this calendar</body></html>";
  await page.getByRole("button", { name: "Sync now" }).click();
  await expect(result).toContainText("Sync failed");
  await expect(result).toContainText("not an iCalendar file");
  await expect(page.getByTestId("last-error")).toContainText("not an iCalendar file");

  // The room page lists the upcoming meetings (nothing of the other room's), in order.
  await page.goto(`${server.url}/design`);
  const upcoming = page.getByTestId("upcoming-events");
  await expect(upcoming.getByRole("listitem")).toHaveCount(2);
  await expect(upcoming.getByRole("listitem").nth(0)).toContainText("Design review ✏️");
  await expect(upcoming.getByRole("listitem").nth(1)).toContainText("Sprint retro");
  const events = await (await fetch(`${server.url}/v1/rooms/design/meetings`)).json();
  const times = await page.evaluate(
    (ts: string[]) => ts.map((t) => new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })),
    [events[0].start_time, events[0].end_time],
  );
  await expect(upcoming.getByTestId("upcoming-design")).toContainText(`${times[0]}–${times[1]}`);
  await shot(page, "room-calendar-upcoming");
});

test("sync now is offered only for a saved room that follows a calendar", async ({ page }) => {
  const room = await createRoom(server.url, { name: "plain" });
  await page.goto(`${server.url}/rooms/${room.id as string}`);
  await expect(page.getByRole("button", { name: "Sync now" })).toBeDisabled();
  await expect(page.getByText("Set an ICS URL, follow the calendar, and save first.")).toBeVisible();
});
