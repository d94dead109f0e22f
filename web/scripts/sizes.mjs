// Prints the production bundle's gzip sizes, split into our code (with React and the API
// client), the two provider SDKs, which are separate chunks loaded only on their room pages, and
// oidc-client-ts, loaded only when the server has sign-in.
// Reads Vite's manifest (dist/.vite/manifest.json); run after `vite build`.
import { readFileSync, existsSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";

const dist = new URL("../dist/", import.meta.url).pathname;
const manifestPath = join(dist, ".vite/manifest.json");
if (!existsSync(manifestPath)) {
  console.error("No dist/.vite/manifest.json: run `npm run build` first.");
  process.exit(1);
}
const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));

/** Files a chunk loads up front (its static imports and CSS), transitively. */
function closure(key, seen = new Set()) {
  const chunk = manifest[key];
  if (!chunk || seen.has(chunk.file)) return seen;
  seen.add(chunk.file);
  for (const css of chunk.css ?? []) seen.add(css);
  for (const imp of chunk.imports ?? []) closure(imp, seen);
  return seen;
}

const groups = [
  { name: "@daily-co/daily-js", match: "node_modules/@daily-co/" },
  { name: "@whereby.com/browser-sdk", match: "node_modules/@whereby.com/" },
  { name: "livekit-client", match: "node_modules/livekit-client/" },
  { name: "oidc-client-ts", match: "node_modules/oidc-client-ts/" },
];
const entry = Object.keys(manifest).find((k) => manifest[k].isEntry);
const initial = closure(entry);
const owner = new Map();
for (const g of groups) {
  for (const [key, chunk] of Object.entries(manifest)) {
    if (!chunk.isDynamicEntry || !key.includes(g.match)) continue;
    for (const file of closure(key)) if (!initial.has(file)) owner.set(file, g.name);
  }
}

const files = new Set(Object.values(manifest).flatMap((c) => [c.file, ...(c.css ?? [])]));
const totals = new Map([["our code (app, React, API client)", 0], ...groups.map((g) => [g.name, 0])]);
const rows = [];
for (const file of [...files].sort()) {
  const bytes = readFileSync(join(dist, file));
  const gz = gzipSync(bytes, { level: 9 }).length;
  const group = owner.get(file) ?? "our code (app, React, API client)";
  totals.set(group, totals.get(group) + gz);
  rows.push({ file, raw: bytes.length, gz, group, initial: initial.has(file) });
}
const kb = (n) => `${(n / 1024).toFixed(1)} kB`;
const initialGz = rows.filter((r) => r.initial).reduce((s, r) => s + r.gz, 0);
console.log("\nBundle sizes (gzip -9):");
for (const [group, gz] of totals) console.log(`  ${group.padEnd(36)} ${kb(gz).padStart(10)}`);
console.log(`  ${"first load of any page".padEnd(36)} ${kb(initialGz).padStart(10)}`);
console.log("\nFiles:");
for (const r of rows) {
  console.log(`  ${r.file.padEnd(44)} ${kb(r.raw).padStart(10)} raw ${kb(r.gz).padStart(9)} gz  ${r.initial ? "initial" : "lazy   "}  ${r.group}`);
}
