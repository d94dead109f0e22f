// A small OpenID provider for the sign-in tests, on 127.0.0.1: discovery, an /authorize that signs
// the test user in at once, a /token that insists on PKCE (S256), /jwks and an end-session
// endpoint. Its RS256 key pair is the one the Reflector server checks tokens with.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

export interface TestUser {
  sub: string;
  name: string;
  email: string;
}

export interface FakeOidc {
  issuer: string;
  clientId: string;
  /** The PEM public key to give the server as AUTH_JWT_PUBLIC_KEY. */
  publicKeyPem: string;
  /** Code exchanges whose code_verifier matched the code_challenge sent to /authorize. */
  verifiedExchanges: number;
  /** Every refused request, with the reason (a test asserts there were none). */
  refusals: string[];
  /** Sign the next tokens with a key the server does not know (an "invalid token"). */
  signWithForeignKey: boolean;
  /** An access token as /token would issue it, for `sub`, valid for `seconds` (negative: expired). */
  accessToken(sub: string, seconds: number): string;
  close(): Promise<void>;
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString("base64url");

function jwt(claims: Record<string, unknown>, key: KeyObject): string {
  const head = b64url(JSON.stringify({ alg: "RS256", typ: "JWT", kid: "test" }));
  const body = b64url(JSON.stringify(claims));
  const signature = sign("sha256", Buffer.from(`${head}.${body}`), key);
  return `${head}.${body}.${b64url(signature)}`;
}

async function form(req: IncomingMessage): Promise<URLSearchParams> {
  let text = "";
  for await (const chunk of req) text += chunk;
  return new URLSearchParams(text);
}

export async function startFakeOidc({
  clientId,
  audience,
  user,
}: {
  clientId: string;
  /** The access token's `aud`: the server's AUTH_JWT_AUDIENCE. */
  audience: string;
  user: TestUser;
}): Promise<FakeOidc> {
  const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const foreign = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const codes = new Map<string, { challenge: string; redirectUri: string; nonce: string | null }>();
  let issuer = "";

  const now = () => Math.floor(Date.now() / 1000);
  const signingKey = () => (fake.signWithForeignKey ? foreign.privateKey : keys.privateKey);
  const accessToken = (sub: string, seconds: number) =>
    jwt({ iss: issuer, sub, aud: audience, iat: now(), exp: now() + seconds, scope: "openid profile email" }, signingKey());

  const server = createServer(async (req, res) => {
    // The browser calls discovery, /token and /jwks from the Reflector page's origin.
    res.setHeader("Access-Control-Allow-Origin", "*");
    res.setHeader("Access-Control-Allow-Headers", "*");
    const url = new URL(req.url ?? "/", issuer);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    };
    const refuse = (reason: string) => {
      fake.refusals.push(reason);
      json(400, { error: "invalid_request", error_description: reason });
    };
    if (req.method === "OPTIONS") return void res.writeHead(204).end();

    switch (url.pathname) {
      case "/.well-known/openid-configuration":
        return json(200, {
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          jwks_uri: `${issuer}/jwks`,
          end_session_endpoint: `${issuer}/logout`,
          response_types_supported: ["code"],
          subject_types_supported: ["public"],
          id_token_signing_alg_values_supported: ["RS256"],
          code_challenge_methods_supported: ["S256"],
          scopes_supported: ["openid", "profile", "email"],
        });
      case "/jwks":
        return json(200, { keys: [{ ...keys.publicKey.export({ format: "jwk" }), kid: "test", alg: "RS256", use: "sig" }] });
      case "/authorize": {
        const q = url.searchParams;
        const redirectUri = q.get("redirect_uri") ?? "";
        if (q.get("client_id") !== clientId) return refuse(`unknown client_id ${q.get("client_id")}`);
        if (q.get("response_type") !== "code") return refuse(`response_type ${q.get("response_type")}`);
        if (!redirectUri.endsWith("/auth/callback")) return refuse(`redirect_uri ${redirectUri}`);
        const challenge = q.get("code_challenge");
        if (!challenge || q.get("code_challenge_method") !== "S256") return refuse("no PKCE S256 code_challenge");
        if (!q.get("state")) return refuse("no state");
        const code = b64url(randomBytes(16));
        codes.set(code, { challenge, redirectUri, nonce: q.get("nonce") });
        const back = new URL(redirectUri);
        back.searchParams.set("code", code);
        back.searchParams.set("state", q.get("state") ?? "");
        return void res.writeHead(302, { location: back.toString() }).end();
      }
      case "/token": {
        if (req.method !== "POST") return refuse("token needs POST");
        const f = await form(req);
        const code = f.get("code") ?? "";
        const grant = codes.get(code);
        codes.delete(code); // single use
        if (f.get("grant_type") !== "authorization_code") return refuse(`grant_type ${f.get("grant_type")}`);
        if (!grant) return refuse("unknown or reused code");
        if (f.get("client_id") !== clientId) return refuse(`token client_id ${f.get("client_id")}`);
        if (f.get("redirect_uri") !== grant.redirectUri) return refuse("redirect_uri differs from /authorize");
        const verifier = f.get("code_verifier") ?? "";
        if (b64url(createHash("sha256").update(verifier).digest()) !== grant.challenge) {
          return refuse("code_verifier does not match code_challenge");
        }
        fake.verifiedExchanges += 1;
        const idToken = jwt(
          {
            iss: issuer,
            sub: user.sub,
            aud: clientId,
            iat: now(),
            exp: now() + 3600,
            name: user.name,
            email: user.email,
            ...(grant.nonce ? { nonce: grant.nonce } : {}),
          },
          signingKey(),
        );
        res.setHeader("cache-control", "no-store");
        return json(200, {
          access_token: accessToken(user.sub, 3600),
          id_token: idToken,
          token_type: "Bearer",
          expires_in: 3600,
          scope: "openid profile email",
        });
      }
      case "/logout": {
        const back = url.searchParams.get("post_logout_redirect_uri");
        if (!back) return refuse("logout without post_logout_redirect_uri");
        const to = new URL(back);
        const state = url.searchParams.get("state");
        if (state) to.searchParams.set("state", state);
        return void res.writeHead(302, { location: to.toString() }).end();
      }
      default:
        return json(404, { error: "not_found" });
    }
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const fake: FakeOidc = {
    issuer,
    clientId,
    publicKeyPem: keys.publicKey.export({ type: "spki", format: "pem" }).toString(),
    verifiedExchanges: 0,
    refusals: [],
    signWithForeignKey: false,
    accessToken,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
  return fake;
}
