import type { Page } from "@playwright/test";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";

// The committed screenshots (web/screenshots) change only when asked for with
// UPDATE_SCREENSHOTS=1; ordinary runs write theirs under test-results/ (ignored by git).
const dir = process.env.UPDATE_SCREENSHOTS
  ? resolve(import.meta.dirname, "../screenshots")
  : resolve(import.meta.dirname, "../test-results/screenshots");
mkdirSync(dir, { recursive: true });

/** Saves a screenshot of what a person would see, for the README and for review. */
export async function shot(page: Page, name: string, { fullPage = false } = {}) {
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage });
}
