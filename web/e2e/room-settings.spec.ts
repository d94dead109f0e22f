// Editing a room: its webhook with "test webhook" and the delivery history, then deleting the
// room after a confirmation.
import { createServer, type Server as HttpServer } from "node:http";
import { expect, test } from "@playwright/test";
import { startServer, type Server } from "./server";
import { shot } from "./shots";

let server: Server;
let receiver: HttpServer;
let receiverUrl = "";
const received: { event?: string; signature?: string }[] = [];

test.beforeAll(async () => {
  receiver = createServer((req, res) => {
    received.push({
      event: req.headers["x-webhook-event"] as string | undefined,
      signature: req.headers["x-webhook-signature"] as string | undefined,
    });
    req.resume();
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("thanks from the receiver");
  });
  await new Promise<void>((ok) => receiver.listen(0, "127.0.0.1", ok));
  const address = receiver.address();
  receiverUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/hook`;
  server = await startServer();
});

test.afterAll(async () => {
  await server?.stop();
  await new Promise((ok) => receiver?.close(ok));
});

test("set a webhook, test it, see the delivery, then delete the room", async ({ page }) => {
  await page.goto(`${server.url}/rooms/new`);
  await page.getByLabel("Name", { exact: true }).fill("hooked");
  await page.getByLabel("Shared").check();
  await page.getByLabel("Recording", { exact: true }).selectOption("local");
  await expect(page.getByLabel("Start recording")).toBeDisabled();
  await page.getByRole("button", { name: "Create room" }).click();
  await expect(page.getByTestId("room-hooked")).toContainText("shared");
  await expect(page.getByTestId("room-hooked")).toContainText("local recording");

  await page.getByTestId("room-hooked").getByRole("button", { name: "Edit" }).click();
  await expect(page.getByRole("button", { name: "Test webhook" })).toBeDisabled();
  await page.getByLabel("Webhook URL").fill(receiverUrl);
  await page.getByRole("button", { name: "Save changes" }).click();
  await expect(page.getByText("Saved.")).toBeVisible();
  // No secret was given: the server generated one, and the owner sees it.
  await page.getByRole("button", { name: "Show" }).click();
  await expect(page.getByLabel("Signing secret")).not.toHaveValue("");

  await page.getByRole("button", { name: "Test webhook" }).click();
  const result = page.getByTestId("webhook-result");
  await expect(result).toContainText("Delivered");
  await expect(result).toContainText("HTTP 200");
  await expect(result).toContainText("thanks from the receiver");
  await expect(page.getByTestId("deliveries")).toContainText("test");
  expect(received.at(-1)?.event).toBe("test");
  expect(received.at(-1)?.signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
  await shot(page, "room-form-webhook", { fullPage: true });

  // A fetch interval out of range, or cleared, is caught before sending (not sent as 0).
  const interval = page.getByLabel("Fetch every (seconds)");
  const save = page.getByRole("button", { name: "Save changes" });
  await interval.fill("5");
  await expect(page.getByTestId("interval-rules")).toContainText("from 60 to 604800");
  await expect(save).toBeDisabled();
  await interval.fill("");
  await expect(page.getByTestId("interval-rules")).toContainText("Enter how often");
  await expect(save).toBeDisabled();
  await interval.fill("600");
  await expect(save).toBeEnabled();

  // A change the server refuses shows its detail.
  await page.getByLabel("Name", { exact: true }).fill("hooked-2");
  await page.getByLabel("ICS URL").fill(`https://calendar.example.com/${"a".repeat(2100)}.ics`);
  await save.click();
  await expect(page.getByTestId("form-error")).toContainText("ics_url");

  await page.goto(`${server.url}/rooms`);
  await page.getByTestId("room-hooked").getByRole("button", { name: "Delete" }).click();
  const dialog = page.getByTestId("delete-dialog");
  await expect(dialog).toContainText("Delete hooked?");
  await shot(page, "room-delete-confirm");
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await expect(page.getByTestId("room-hooked")).toBeVisible();
  await page.getByTestId("room-hooked").getByRole("button", { name: "Delete" }).click();
  await dialog.getByRole("button", { name: "Delete room" }).click();
  await expect(page.getByTestId("room-hooked")).toHaveCount(0);
  await expect(page.getByTestId("notice")).toHaveText("Deleted hooked");
});
