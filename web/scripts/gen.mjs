// Generates src/api/schema.d.ts from openapi.json with the pinned openapi-typescript, the same
// way every time: into a temporary file first, with "\n" line endings, and the committed file is
// written only when the output differs (so an unchanged schema is never touched).
//   node scripts/gen.mjs          regenerate src/api/schema.d.ts
//   node scripts/gen.mjs --check  fail if the committed file is not what openapi.json generates
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const web = resolve(import.meta.dirname, "..");
const target = join(web, "src/api/schema.d.ts");
const check = process.argv.includes("--check");

const dir = mkdtempSync(join(tmpdir(), "reflector-gen-"));
let generated;
try {
  const out = join(dir, "schema.d.ts");
  execFileSync(
    process.execPath,
    [join(web, "node_modules/openapi-typescript/bin/cli.js"), join(web, "openapi.json"), "-o", out],
    { cwd: dir, stdio: ["ignore", "ignore", "inherit"] },
  );
  generated = readFileSync(out, "utf8").replace(/\r\n/g, "\n");
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const committed = existsSync(target) ? readFileSync(target, "utf8") : null;
if (committed === generated) process.exit(0);
if (check) {
  console.error("src/api/schema.d.ts is not what openapi.json generates: run npm run gen (and commit the result).");
  process.exit(1);
}
writeFileSync(target, generated);
console.log("src/api/schema.d.ts regenerated from openapi.json");
