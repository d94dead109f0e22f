// Clear states instead of endless spinners: unknown room or meeting, provider down, platform not
// configured, meeting ended by its owner, and not signed in — each showing the server's detail.
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "@playwright/test";
import { createRoom, freePort, startServer } from "./server";
import { shot } from "./shots";

test("unknown rooms and meetings, a provider that is down, then not configured at all", async ({ page }) => {
  const dataDir = mkdtempSync(join(tmpdir(), "reflector-e2e-"));
  const closedPort = await freePort();
  let server = await startServer({ DAILY_API_KEY: "k", DAILY_API_URL: `http://127.0.0.1:${closedPort}` }, dataDir);
  try {
    await page.goto(`${server.url}/no-such-room`);
    await expect(page.getByTestId("room-not-found")).toContainText("Room not found");
    await shot(page, "error-unknown-room");

    await createRoom(server.url, { name: "standup", platform: "mock", skip_consent: true });
    await page.goto(`${server.url}/standup/00000000-0000-4000-8000-000000000000`);
    await expect(page.getByTestId("meeting-not-found")).toContainText("Meeting not found");

    // The owner ends the meeting for everyone.
    await page.goto(`${server.url}/standup`);
    await expect(page.getByTestId("consent-dialog")).toHaveCount(0);
    await expect(page.getByTestId("mock-frame")).toBeVisible();
    await page.getByRole("button", { name: "End meeting" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "End meeting" }).click();
    await expect(page.getByTestId("meeting-ended")).toBeVisible();

    await createRoom(server.url, { name: "broken-daily", platform: "daily" });
    await page.goto(`${server.url}/broken-daily`);
    await expect(page.getByTestId("provider-error")).toContainText("The video provider is not answering");
    await expect(page.getByTestId("provider-error")).toContainText("daily is unavailable");
    await shot(page, "error-provider-down");
  } finally {
    await server.stop();
  }

  // Daily's key removed: the same room now names the missing setting.
  server = await startServer({}, dataDir);
  try {
    await page.goto(`${server.url}/broken-daily`);
    await expect(page.getByTestId("platform-error")).toContainText("not set up");
    await expect(page.getByTestId("platform-error")).toContainText("set DAILY_API_KEY");
    await shot(page, "error-platform-not-configured");

    await page.goto(`${server.url}/rooms`);
    await page.getByTestId("room-broken-daily").getByRole("button", { name: "Edit" }).click();
    await expect(page.getByText("daily is not configured on this server (set DAILY_API_KEY)")).toBeVisible();
    await shot(page, "room-form-edit", { fullPage: true });
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test("with sign-in required, the rooms list says so and room pages still answer", async ({ page }) => {
  const dir = mkdtempSync(join(tmpdir(), "reflector-jwt-"));
  const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const keyPath = join(dir, "public.pem");
  writeFileSync(keyPath, publicKey.export({ type: "spki", format: "pem" }));
  const server = await startServer({ AUTH_BACKEND: "jwt", AUTH_JWT_PUBLIC_KEY: keyPath });
  try {
    await page.goto(`${server.url}/rooms`);
    await expect(page.getByTestId("not-signed-in")).toContainText("Sign in to see your rooms");
    await expect(page.getByTestId("not-signed-in")).toContainText("Not authenticated");
    await expect(page.getByTestId("who")).toHaveText("Not signed in");
    await expect(page.getByRole("link", { name: "New room" })).toHaveCount(0);
    await shot(page, "error-not-signed-in");
    await page.goto(`${server.url}/some-room`);
    await expect(page.getByTestId("room-not-found")).toBeVisible();
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a malformed address and a provider chunk that fails to download show errors, not a blank page", async ({ page }) => {
  const server = await startServer();
  try {
    // `%A` is not a complete escape: decoding it throws.
    await page.goto(`${server.url}/%E0%A4%A`);
    await expect(page.getByTestId("page-not-found")).toContainText("Page not found");
    await page.goto(`${server.url}/rooms/%E0%A4%A`);
    await expect(page.getByTestId("page-not-found")).toBeVisible();

    await createRoom(server.url, { name: "chunky", platform: "mock", skip_consent: true });
    await page.route("**/assets/MockRoom-*.js", (route) => route.abort());
    await page.goto(`${server.url}/chunky`);
    await expect(page.getByTestId("provider-error")).toContainText("The mock call failed");
    await expect(page.getByTestId("provider-error")).toContainText("could not be downloaded");
    await expect(page.getByTestId("mock-frame")).toHaveCount(0);

    // Once the chunk downloads, "Try again" (which loads the page again) shows the call.
    await page.unroute("**/assets/MockRoom-*.js");
    await page.getByTestId("provider-error").getByRole("button", { name: "Try again" }).click();
    await expect(page.getByTestId("mock-frame")).toBeVisible();
  } finally {
    await server.stop();
  }
});
