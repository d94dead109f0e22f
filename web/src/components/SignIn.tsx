import { useState } from "react";
import { useMe } from "../me";
import { signIn, signOut } from "../auth";

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** "Sign in" through the server's OpenID provider; nothing when the server has none. */
export function SignInButton({ primary = false, label = "Sign in" }: { primary?: boolean; label?: string }) {
  const { oidc } = useMe();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (!oidc) return null;
  const go = async () => {
    setBusy(true);
    setError(null);
    try {
      await signIn(oidc); // leaves the page on success
    } catch (e) {
      setError(`The sign-in provider at ${oidc.issuer} is not answering (${message(e)}).`);
      setBusy(false);
    }
  };
  return (
    <>
      <button className={primary ? "primary" : ""} onClick={go} disabled={busy} data-testid="sign-in">
        {busy ? "Signing in…" : label}
      </button>
      {error && (
        <span className="error small" role="alert">
          {error}
        </span>
      )}
    </>
  );
}

export function SignOutButton() {
  const { oidc } = useMe();
  const [busy, setBusy] = useState(false);
  if (!oidc) return null;
  const go = async () => {
    setBusy(true);
    try {
      await signOut(oidc);
    } finally {
      setBusy(false);
    }
  };
  return (
    <button onClick={go} disabled={busy} data-testid="sign-out">
      Sign out
    </button>
  );
}
