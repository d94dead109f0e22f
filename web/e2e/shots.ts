import type { Page } from "@playwright/test";
import { join, resolve } from "node:path";

const dir = resolve(import.meta.dirname, "../screenshots");

/** Saves a screenshot of what a person would see, for the README and for review. */
export async function shot(page: Page, name: string, { fullPage = false } = {}) {
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage });
}
