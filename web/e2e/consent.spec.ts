// The recording-consent dialog: a failed first answer still lets the person in, the dialog takes
// the keyboard (focus on its primary button, Escape closes it when it may be closed), and an
// answer can be changed — the server is sent each answer, the latest last.
import { expect, test } from "@playwright/test";
import { createRoom, startServer, type Server } from "./server";

let server: Server;

test.beforeAll(async () => {
  server = await startServer();
  await createRoom(server.url, { name: "asking", platform: "mock", recording_type: "cloud", recording_trigger: "automatic" });
});

test.afterAll(async () => {
  await server?.stop();
});

test("a failed answer can be retried or skipped, then declined and changed to agree", async ({ page }) => {
  const sent: { consent_given: boolean; participant_token: string | null }[] = [];
  page.on("request", (r) => {
    if (r.method() === "POST" && r.url().endsWith("/consent")) sent.push(JSON.parse(r.postData() ?? "null"));
  });
  // The first answer, and its retry, fail at the server.
  let failures = 2;
  await page.route("**/v1/meetings/*/consent", async (route) => {
    if (failures-- > 0) await route.fulfill({ status: 503, json: { detail: "consent store unavailable" } });
    else await route.continue();
  });

  await page.goto(`${server.url}/asking`);
  const dialog = page.getByTestId("consent-dialog");
  await expect(dialog.getByRole("button", { name: "I agree to be recorded" })).toBeFocused();
  // Not answered yet: Escape does not close it, and the call waits.
  await page.keyboard.press("Escape");
  await expect(dialog).toBeVisible();
  await expect(page.getByTestId("mock-frame")).toHaveCount(0);

  await dialog.getByRole("button", { name: "I agree to be recorded" }).click();
  await expect(dialog.getByRole("alert")).toContainText("consent store unavailable");
  await expect(dialog.getByRole("button", { name: "Try again" })).toBeFocused();
  await dialog.getByRole("button", { name: "Try again" }).click();
  await expect.poll(() => sent.length).toBe(2);
  await expect(dialog.getByRole("alert")).toContainText("consent store unavailable");
  await dialog.getByRole("button", { name: "Join without answering" }).click();
  await expect(dialog).toHaveCount(0);
  await expect(page.getByTestId("mock-frame")).toBeVisible();
  await expect(page.getByTestId("consent-reopen")).toHaveText("Recording consent: not answered");

  // Reopened, it may be closed with Escape.
  await page.getByTestId("consent-reopen").click();
  await expect(dialog.getByRole("button", { name: "I agree to be recorded" })).toBeFocused();
  await page.keyboard.press("Escape");
  await expect(dialog).toHaveCount(0);

  await page.getByTestId("consent-reopen").click();
  await dialog.getByRole("button", { name: "Decline" }).click();
  await expect(page.getByTestId("consent-reopen")).toHaveText("Recording consent: declined");
  await page.getByTestId("consent-reopen").click();
  await expect(dialog).toContainText("Your answer now: you declined");
  await dialog.getByRole("button", { name: "I agree to be recorded" }).click();
  await expect(page.getByTestId("consent-reopen")).toHaveText("Recording consent: agreed");

  // Every answer went to the server as this browser's, in order: the last one (agree) stands.
  expect(sent.map((b) => b.consent_given)).toEqual([true, true, false, true]);
  expect(new Set(sent.map((b) => b.participant_token)).size).toBe(1);
  expect(sent[0].participant_token).toMatch(/^[0-9a-f-]{36}$/);

  // Remembered for this meeting.
  await page.reload();
  await expect(page.getByTestId("consent-reopen")).toHaveText("Recording consent: agreed");
  await expect(dialog).toHaveCount(0);
});

test("the recording badge says a prompt-triggered meeting records only on request", async ({ page }) => {
  await createRoom(server.url, { name: "on-request", platform: "mock", recording_type: "cloud", recording_trigger: "prompt", skip_consent: true });
  await page.goto(`${server.url}/on-request`);
  await expect(page.getByTestId("mock-frame")).toBeVisible();
  await expect(page.getByTestId("recording-indicator")).toHaveText("Recording on request");

  await page.goto(`${server.url}/asking`);
  await expect(page.getByTestId("recording-indicator")).toHaveText("Recorded meeting");
});
