// Sign-in with OpenID Connect (SPEC §10) against the real server with AUTH_BACKEND=jwt and a fake
// OpenID provider (e2e/fake-oidc.ts) whose key pair the server checks tokens with. The provider
// refuses a code exchange without the right PKCE verifier, so these tests fail without PKCE.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test, type Page } from "@playwright/test";
import { startFakeOidc, type FakeOidc } from "./fake-oidc";
import { createRoom, startServer, type Server } from "./server";
import { shot } from "./shots";

const ada = { sub: "ada-7f3c", name: "Ada Lovelace", email: "ada@example.org" };
let oidc: FakeOidc;
let server: Server;
let dir: string;

test.beforeAll(async () => {
  oidc = await startFakeOidc({ clientId: "reflector-web", audience: "reflector-api", user: ada });
  dir = mkdtempSync(join(tmpdir(), "reflector-oidc-"));
  const keyPath = join(dir, "public.pem");
  writeFileSync(keyPath, oidc.publicKeyPem);
  server = await startServer({
    AUTH_BACKEND: "jwt",
    AUTH_JWT_PUBLIC_KEY: keyPath,
    AUTH_JWT_AUDIENCE: "reflector-api",
    OIDC_ISSUER: oidc.issuer,
    OIDC_CLIENT_ID: oidc.clientId,
  });
});

test.afterEach(() => {
  expect(oidc.refusals, "the fake provider refused a request").toEqual([]);
  oidc.signWithForeignKey = false;
});

test.afterAll(async () => {
  await server?.stop();
  await oidc?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const who = (page: Page) => page.getByTestId("who");

async function signIn(page: Page) {
  const before = oidc.verifiedExchanges;
  await page.getByTestId("sign-in").first().click();
  await expect(who(page)).toHaveText(`Signed in as ${ada.name}`);
  expect(oidc.verifiedExchanges).toBe(before + 1);
}

/** The user oidc-client-ts keeps in sessionStorage for this tab. */
async function storedUser(page: Page): Promise<{ key: string; user: { access_token: string } } | null> {
  return page.evaluate(() => {
    const key = Object.keys(sessionStorage).find((k) => k.startsWith("oidc.user:"));
    return key ? { key, user: JSON.parse(sessionStorage.getItem(key) ?? "{}") } : null;
  });
}

test("sign in, create a room as yourself, a guest joins anonymously, sign out", async ({ browser, page }) => {
  await page.goto(`${server.url}/rooms`);
  await expect(page.getByTestId("not-signed-in")).toContainText("Sign in to see your rooms");
  await expect(who(page)).toHaveText("Not signed in");
  await expect(page.getByTestId("not-signed-in").getByTestId("sign-in")).toBeVisible();
  await shot(page, "sign-in-needed");

  // The form asks to sign in before anything is filled in; signing in from there comes back to it.
  await page.goto(`${server.url}/rooms/new`);
  await expect(page.getByTestId("not-signed-in")).toContainText("Sign in to create a room");
  await expect(page.getByLabel("Name", { exact: true })).toHaveCount(0);
  await signIn(page);
  // The callback page shows who signed in a moment before it goes back: wait for the address.
  await expect(page).toHaveURL(/^https?:\/\/[^/]+\/rooms\/new(\?.*)?$/);
  const stored = await storedUser(page);
  expect(stored?.key).toBe(`oidc.user:${oidc.issuer}:${oidc.clientId}`);

  await page.getByLabel("Name", { exact: true }).fill("ada-standup");
  const created = page.waitForRequest((r) => r.url().endsWith("/v1/rooms") && r.method() === "POST");
  await page.getByRole("button", { name: "Create room" }).click();
  expect((await created).headers()["authorization"]).toBe(`Bearer ${stored?.user.access_token}`);
  await expect(page.getByTestId("room-ada-standup")).toBeVisible();
  await expect(page.getByTestId("room-ada-standup").getByRole("button", { name: "Edit" })).toBeVisible();
  await shot(page, "signed-in-rooms");
  // The server took the owner from the token.
  const room = await (await fetch(`${server.url}/v1/rooms/name/ada-standup`)).json();
  expect(room.user_id).toBe(ada.sub);

  // A room shared by someone else opens, but its form says only the owner can edit it.
  const shared = await createRoom(
    server.url,
    { name: "grace-room", is_shared: true },
    { authorization: `Bearer ${oidc.accessToken("grace-1", 600)}` },
  );
  await page.goto(`${server.url}/rooms/${String(shared.id)}`);
  await expect(page.getByTestId("not-owner")).toContainText("Only the owner can edit this room");
  await expect(page.getByLabel("Name", { exact: true })).toHaveCount(0);

  // Someone with only the link: no sign-in asked, no token sent, and the meeting works.
  const guestContext = await browser.newContext();
  const guest = await guestContext.newPage();
  const tokens: string[] = [];
  guest.on("request", (r) => {
    const auth = r.headers()["authorization"];
    if (auth) tokens.push(auth);
  });
  await guest.goto(`${server.url}/ada-standup`);
  await expect(who(guest)).toHaveText("Not signed in");
  const dialog = guest.getByTestId("consent-dialog");
  await expect(dialog).toBeVisible();
  const consent = guest.waitForResponse((r) => r.url().endsWith("/consent") && r.request().method() === "POST");
  await dialog.getByRole("button", { name: "I agree to be recorded" }).click();
  expect((await consent).status()).toBe(200);
  const call = guest.frameLocator('[data-testid="mock-frame"]');
  await call.getByPlaceholder("Your name").fill("Guest");
  await call.getByRole("button", { name: "Join" }).click();
  await expect(call.locator("li.me")).toHaveText("Guest");
  await expect(guest.getByTestId("participants")).toHaveText("1 participant");
  expect(tokens).toEqual([]);
  await guestContext.close();

  // Sign out: through the provider's end-session endpoint, back to the signed-out rooms page.
  await page.getByTestId("sign-out").click();
  await expect(page.getByTestId("not-signed-in")).toContainText("Sign in to see your rooms");
  await expect(who(page)).toHaveText("Not signed in");
  await expect(page).toHaveURL(/^https?:\/\/[^/]+\/rooms(\?.*)?$/);
  expect(await storedUser(page)).toBeNull();
  await expect(page.getByTestId("auth-notice")).toHaveCount(0);
});

test("a token the server refuses signs the page out, saying so, instead of spinning", async ({ page }) => {
  await page.goto(`${server.url}/rooms`);
  await signIn(page);
  await expect(page.getByRole("heading", { name: "Rooms" })).toBeVisible();

  // The kept access token has expired by the server's clock (its `exp` is past).
  const stored = await storedUser(page);
  expect(stored).not.toBeNull();
  const expired = oidc.accessToken(ada.sub, -120);
  await page.evaluate(
    ([key, token]) => {
      const user = JSON.parse(sessionStorage.getItem(key) ?? "{}");
      sessionStorage.setItem(key, JSON.stringify({ ...user, access_token: token }));
    },
    [stored?.key ?? "", expired],
  );
  const refused = page.waitForResponse((r) => r.url().endsWith("/v1/me") && r.status() === 401);
  await page.reload();
  expect((await refused).request().headers()["authorization"]).toBe(`Bearer ${expired}`);
  await expect(page.getByTestId("auth-notice")).toContainText("signed out");
  await expect(page.getByTestId("auth-notice")).toContainText("Sign in again");
  await expect(who(page)).toHaveText("Not signed in");
  await expect(page.getByTestId("not-signed-in")).toBeVisible();
  await expect(page.locator(".spinner")).toHaveCount(0);
  expect(await storedUser(page)).toBeNull();
  await shot(page, "signed-out-notice");

  // Signing in again clears the notice.
  await signIn(page);
  await expect(page.getByTestId("auth-notice")).toHaveCount(0);

  // A token signed with a key the server does not know: refused at the first call after sign-in.
  await page.getByTestId("sign-out").click();
  await expect(who(page)).toHaveText("Not signed in");
  oidc.signWithForeignKey = true;
  await page.getByTestId("sign-in").first().click();
  await expect(page.getByTestId("auth-notice")).toContainText("signed out");
  await expect(who(page)).toHaveText("Not signed in");
  await expect(page.getByTestId("not-signed-in")).toBeVisible();
  await expect(page.locator(".spinner")).toHaveCount(0);
});
