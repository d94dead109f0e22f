// "Me": who this browser acts as. App loads it from `GET /v1/me` (again whenever sign-in
// changes) and provides it to every page; pages and components read it with `useMe`.
import { createContext, useContext, type ReactNode } from "react";
import { api, call, type Me } from "./api/client";
import { restore } from "./auth";

/** The local user with AUTH_BACKEND=none, else a JWT's subject or nobody (room pages stay
 * usable anonymously). */
const MeContext = createContext<Me>({ sub: null, auth_backend: "none", oidc: null });

export function MeProvider({ me, children }: { me: Me; children: ReactNode }) {
  return <MeContext.Provider value={me}>{children}</MeContext.Provider>;
}

export const useMe = () => useContext(MeContext);

/** Asks the server who we are. The first answer also says where to sign in; with that, a sign-in
 * kept from earlier in this tab is taken up and the server asked again with its token. */
export async function loadMe(): Promise<Me> {
  const me = await call(api.GET("/v1/me"));
  if (me.sub || !me.oidc) return me;
  return (await restore(me.oidc)) ? call(api.GET("/v1/me")) : me;
}
