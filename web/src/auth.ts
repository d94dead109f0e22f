// Sign-in with OpenID Connect (SPEC §10), for servers with AUTH_BACKEND=jwt and OIDC_ISSUER /
// OIDC_CLIENT_ID set. oidc-client-ts runs the authorization-code flow with PKCE (the verifier and
// state live in sessionStorage for the round trip) and keeps the signed-in user in sessionStorage,
// so a sign-in lasts for this tab and ends with it. The access token goes to our API as a bearer
// token (api/client.ts); the server checks it, and a 401 for it signs this page out.
// The library is loaded only when the server has sign-in, so single-user mode does not carry it.
import { useSyncExternalStore } from "react";
import type { User, UserManager } from "oidc-client-ts";
import type { OidcInfo } from "./api/client";

export const CALLBACK_PATH = "/auth/callback";
export const SIGNED_OUT_PATH = "/auth/signed-out";

/** What the header shows and the API client sends. `version` changes whenever who this page
 * acts as changes, so what was loaded for the previous user is loaded again. */
export interface AuthSnapshot {
  version: number;
  /** The signed-in person's display name from the ID token, or null. */
  name: string | null;
  /** Set after the server refused our token: the page is signed out and says so. */
  notice: string | null;
}

let snapshot: AuthSnapshot = { version: 0, name: null, notice: null };
let token: string | null = null;
let manager: UserManager | null = null;
let managerFor = "";
/** Tokens the server refused in this page's life, never sent again even if still stored. */
const refused = new Set<string>();
const listeners = new Set<() => void>();

function update(next: Partial<AuthSnapshot>, bump: boolean) {
  snapshot = { ...snapshot, ...next, version: bump ? snapshot.version + 1 : snapshot.version };
  listeners.forEach((l) => l());
}

export function useAuth(): AuthSnapshot {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => snapshot,
  );
}

/** The bearer token for API calls, if signed in. */
export function accessToken(): string | null {
  return token;
}

function displayName(user: User): string {
  const p = user.profile;
  return p.name ?? p.preferred_username ?? p.email ?? p.sub;
}

async function managerOf(oidc: OidcInfo): Promise<UserManager> {
  const id = `${oidc.issuer} ${oidc.client_id}`;
  if (!manager || managerFor !== id) {
    const { UserManager, WebStorageStateStore } = await import("oidc-client-ts");
    const origin = window.location.origin;
    manager = new UserManager({
      authority: oidc.issuer,
      client_id: oidc.client_id,
      redirect_uri: origin + CALLBACK_PATH,
      post_logout_redirect_uri: origin + SIGNED_OUT_PATH,
      response_type: "code",
      scope: "openid profile email",
      userStore: new WebStorageStateStore({ store: window.sessionStorage }),
      // No hidden iframe or refresh-token renewal: when the token runs out, the server says 401 and
      // the page asks the person to sign in again.
      automaticSilentRenew: false,
      monitorSession: false,
    });
    managerFor = id;
  }
  return manager;
}

/** Takes up the user kept from an earlier sign-in in this tab. True when there is one to use. */
export async function restore(oidc: OidcInfo): Promise<boolean> {
  const m = await managerOf(oidc);
  const user = await m.getUser();
  if (!user) return false;
  if (refused.has(user.access_token)) {
    await m.removeUser();
    return false;
  }
  if (user.expired) {
    await m.removeUser();
    signedOut("Your sign-in has expired. Sign in again.", false);
    return false;
  }
  if (token !== user.access_token) {
    token = user.access_token;
    update({ name: displayName(user) }, false);
  }
  return true;
}

/** Leaves for the provider's sign-in page; comes back to `CALLBACK_PATH`, then to this page. */
export async function signIn(oidc: OidcInfo): Promise<void> {
  const here = window.location.pathname + window.location.search;
  await (await managerOf(oidc)).signinRedirect({ state: { returnTo: here === CALLBACK_PATH ? "/rooms" : here } });
}

// The callback is completed once per URL even if React runs the effect twice (StrictMode):
// the provider's code can be exchanged only once.
let completing: { url: string; done: Promise<string> } | null = null;

/** Exchanges the code in the callback URL for tokens; resolves to the page to go back to. */
export function completeSignIn(oidc: OidcInfo): Promise<string> {
  const url = window.location.href;
  if (completing?.url !== url) {
    completing = {
      url,
      done: managerOf(oidc)
        .then((m) => m.signinRedirectCallback(url))
        .then((user) => {
          token = user.access_token;
          update({ name: displayName(user), notice: null }, true);
          const back = (user.state as { returnTo?: unknown } | undefined)?.returnTo;
          return typeof back === "string" && back.startsWith("/") && !back.startsWith("//") ? back : "/rooms";
        }),
    };
  }
  return completing.done;
}

/** Signs out here, and at the provider when it offers that (so a shared computer is left signed
 * out there too); the provider then sends the browser back to `SIGNED_OUT_PATH`. */
export async function signOut(oidc: OidcInfo): Promise<void> {
  const m = await managerOf(oidc);
  const user = await m.getUser();
  let endSession: string | undefined;
  try {
    endSession = await m.metadataService.getEndSessionEndpoint();
  } catch {
    endSession = undefined; // provider unreachable: still sign out here
  }
  token = null;
  if (endSession && user) {
    await m.signoutRedirect({ id_token_hint: user.id_token });
    return;
  }
  await m.removeUser();
  update({ name: null, notice: null }, true);
}

/** Back from the provider's sign-out: drop the request's state kept for the round trip. */
export async function completeSignOut(oidc: OidcInfo): Promise<void> {
  try {
    await (await managerOf(oidc)).signoutRedirectCallback(window.location.href);
  } catch {
    // A stale or missing state only means there is nothing left to clean up.
  }
}

/** The server refused our token (expired, revoked, signed by another key): forget it, and let
 * the page load again as an anonymous visitor that is told to sign in again. */
export function signedOut(notice: string, bump = true) {
  if (token) refused.add(token);
  token = null;
  void manager?.removeUser();
  update({ name: null, notice }, bump);
}
