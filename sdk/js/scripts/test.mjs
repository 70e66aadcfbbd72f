// Runs the unit tests with Node's own test runner: each test/unit/*.test.ts
// is bundled by the pinned esbuild (Node 20 runs no TypeScript) into
// .test-build/, then `node --test` runs them all.

import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, ".test-build");
rmSync(out, { recursive: true, force: true });
const tests = readdirSync(join(root, "test", "unit")).filter((f) => f.endsWith(".test.ts"));
await build({
  absWorkingDir: root,
  entryPoints: tests.map((f) => join("test", "unit", f)),
  outdir: out,
  outExtension: { ".js": ".mjs" },
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  logLevel: "error",
});
const files = readdirSync(out).filter((f) => f.endsWith(".test.mjs")).map((f) => join(out, f));
const r = spawnSync(process.execPath, ["--test", ...files], { stdio: "inherit", cwd: root });
process.exit(r.status ?? 1);
