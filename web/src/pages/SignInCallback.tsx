import { useEffect, useState } from "react";
import { useMe } from "../me";
import { completeSignIn, completeSignOut } from "../auth";
import { ErrorState, Loading } from "../components/States";
import { SignInButton } from "../components/SignIn";
import { Link, navigate } from "../router";

/** Where the OpenID provider sends the browser back: exchange the code (with the PKCE verifier
 * kept for this tab), then return to the page the person signed in from. */
export function SignInCallback() {
  const { oidc } = useMe();
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!oidc) return;
    let current = true;
    completeSignIn(oidc).then(
      (back) => current && navigate(back, { replace: true }),
      (e: unknown) => current && setError(e instanceof Error ? e.message : String(e)),
    );
    return () => {
      current = false;
    };
  }, [oidc]);

  const back = (
    <Link href="/rooms" className="button">
      All rooms
    </Link>
  );
  if (!oidc)
    return (
      <ErrorState title="This server has no sign-in" actions={back} testId="sign-in-failed">
        <p>Sign-in needs AUTH_BACKEND=jwt with OIDC_ISSUER and OIDC_CLIENT_ID on the server.</p>
      </ErrorState>
    );
  if (error)
    return (
      <ErrorState
        title="Sign-in did not complete"
        actions={
          <>
            <SignInButton primary label="Try again" />
            {back}
          </>
        }
        testId="sign-in-failed"
      >
        <p className="detail">
          <span className="muted">The sign-in provider said:</span> {error}
        </p>
      </ErrorState>
    );
  return <Loading label="Signing in…" />;
}

/** Where the provider sends the browser back after signing out there. */
export function SignedOut() {
  const { oidc } = useMe();
  useEffect(() => {
    let current = true;
    (oidc ? completeSignOut(oidc) : Promise.resolve()).then(() => current && navigate("/rooms", { replace: true }));
    return () => {
      current = false;
    };
  }, [oidc]);
  return <Loading label="Signing out…" />;
}
