// The one build: bundles src/ into dist/ with the pinned esbuild, writes
// the files' SRI digests into DIGESTS.json (and the copy veil audit-sdk
// embeds), and fails when a bundle is over its gzip size budget. The
// output depends only on the sources and package-lock.json: no dates, no
// absolute paths, no source maps.
//
//   npm ci && npm run build         rebuild; git diff shows any change
//   node scripts/build.mjs --check  rebuild in a temporary directory and fail if
//                                   dist/ or DIGESTS.json differ (CI)

import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const check = process.argv.includes("--check");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

// Gzip budgets in bytes (issue 19): X25519 only, and with X-Wing.
const budgets = { "veil.js": 10_000, "veil-xwing.js": 24_000 };

const entries = [
  { in: "src/index.ts", out: "veil.js", platform: "neutral" },
  { in: "src/xwing.ts", out: "veil-xwing.js", platform: "neutral" },
  { in: "src/node-file-store.ts", out: "veil-node-store.js", platform: "node" },
];

const outDir = check ? mkdtempSync(join(tmpdir(), "veil-sdk-build-")) : join(root, "dist");
mkdirSync(outDir, { recursive: true });
const built = {};
for (const e of entries) {
  const r = await build({
    absWorkingDir: root,
    entryPoints: [e.in],
    bundle: true,
    format: "esm",
    platform: e.platform,
    mainFields: ["module", "main"],
    target: "es2022",
    minify: true,
    legalComments: "eof",
    charset: "utf8",
    sourcemap: false,
    write: false,
    logLevel: "error",
    external: e.platform === "node" ? ["node:*"] : [],
  });
  const text = r.outputFiles[0].contents;
  built[e.out] = text;
  writeFileSync(join(outDir, e.out), text);
}

// Type declarations for TypeScript callers (record<T> and the options),
// by the pinned compiler.
const tsc = spawnSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "tsconfig.types.json"), "--outDir", join(outDir, "types")], { cwd: root, encoding: "utf8" });
if (tsc.status !== 0) {
  console.error("tsc:", tsc.stdout, tsc.stderr);
  process.exit(1);
}

const sri = (b) => "sha384-" + createHash("sha384").update(b).digest("base64");
const digestsPath = join(root, "DIGESTS.json");
let digests = {};
try {
  digests = JSON.parse(readFileSync(digestsPath, "utf8"));
} catch {
  digests = {};
}
const mine = {};
for (const [name, b] of Object.entries(built)) mine[name] = sri(b);
const published = digests[pkg.version];
digests[pkg.version] = mine;
const ordered = Object.fromEntries(Object.keys(digests).sort(semverCompare).map((v) => [v, digests[v]]));
const digestsText = JSON.stringify(ordered, null, 2) + "\n";

let failed = false;
for (const [name, budget] of Object.entries(budgets)) {
  const gz = gzipSync(built[name], { level: 9 }).length;
  const line = `${name}: ${built[name].length} bytes, ${gz} bytes gzip (budget ${budget})`;
  if (gz > budget) {
    console.error(`over budget: ${line}`);
    failed = true;
  } else {
    console.log(line);
  }
}

if (check) {
  for (const [name, b] of Object.entries(built)) {
    let committed;
    try {
      committed = readFileSync(join(root, "dist", name));
    } catch {
      committed = Buffer.alloc(0);
    }
    if (!committed.equals(Buffer.from(b))) {
      console.error(`dist/${name} is stale: npm ci && npm run build, then commit it`);
      failed = true;
    }
  }
  for (const name of readdirSync(join(outDir, "types"))) {
    let committed = "";
    try {
      committed = readFileSync(join(root, "dist", "types", name), "utf8");
    } catch {
      // missing: stale
    }
    if (committed !== readFileSync(join(outDir, "types", name), "utf8")) {
      console.error(`dist/types/${name} is stale: npm ci && npm run build, then commit it`);
      failed = true;
    }
  }
  if (readFileSync(digestsPath, "utf8") !== digestsText) {
    console.error("DIGESTS.json is stale: npm run build, then commit it");
    failed = true;
  }
  rmSync(outDir, { recursive: true, force: true });
} else {
  if (published && JSON.stringify(published) !== JSON.stringify(mine)) {
    console.log(`note: version ${pkg.version}'s digests changed; bump the version in package.json before publishing`);
  }
  writeFileSync(digestsPath, digestsText);
  // The README's SRI snippet shows this version's veil.js.
  const readme = join(root, "README.md");
  writeFileSync(readme, readFileSync(readme, "utf8").replace(/sha384-[A-Za-z0-9+/]{64}/g, mine["veil.js"]));
  // The copy veil audit-sdk compiles in (go:embed cannot reach ../).
  writeFileSync(join(root, "..", "..", "internal", "auditsdk", "digests.json"), digestsText);
}
process.exit(failed ? 1 : 0);

function semverCompare(a, b) {
  const pa = a.split(/[.-]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  const pb = b.split(/[.-]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    if (pa[i] === pb[i]) continue;
    if (pa[i] === undefined) return -1;
    if (pb[i] === undefined) return 1;
    return pa[i] < pb[i] ? -1 : 1;
  }
  return 0;
}
