// One component per video provider, routed on `meeting.platform`. Each is a separate chunk and
// loads its provider's SDK itself with a dynamic import, so a page only downloads the SDK of the
// provider it shows. Adding a provider = one component + one line here.
import { lazy, type ComponentType, type LazyExoticComponent } from "react";
import type { ProviderProps } from "./types";

/** A chunk of this app that failed to download. The browser keeps a failed module import for
 * the life of the page, so trying again means loading the page again. */
export class ChunkLoadError extends Error {}

function chunk(name: string, load: () => Promise<{ default: ComponentType<ProviderProps> }>) {
  return lazy(() =>
    load().catch((e: unknown) => {
      throw new ChunkLoadError(
        `The ${name} call component could not be downloaded (${e instanceof Error ? e.message : String(e)}).`,
      );
    }),
  );
}

export const PROVIDERS: Record<string, LazyExoticComponent<ComponentType<ProviderProps>>> = {
  daily: chunk("daily", () => import("./daily/DailyRoom")),
  whereby: chunk("whereby", () => import("./WherebyRoom")),
  livekit: chunk("livekit", () => import("./LiveKitRoom")),
  mock: chunk("mock", () => import("./MockRoom")),
};
