// One component per video provider, routed on `meeting.platform`. Each is a separate chunk and
// loads its provider's SDK itself with a dynamic import, so a page only downloads the SDK of the
// provider it shows. Adding a provider = one component + one line here.
import { lazy, type ComponentType, type LazyExoticComponent } from "react";
import type { ProviderProps } from "./types";

export const PROVIDERS: Record<string, LazyExoticComponent<ComponentType<ProviderProps>>> = {
  daily: lazy(() => import("./DailyRoom")),
  whereby: lazy(() => import("./WherebyRoom")),
  mock: lazy(() => import("./MockRoom")),
};
