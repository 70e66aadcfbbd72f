// Real-browser tests of the SDK: Debian's Chromium, driven by
// playwright-core, against the real `veil relay` and `veil serve` that the
// Go test internal/e2e/browser_test.go starts. This script serves the
// pages (from an origin other than the relay's), a relay proxy that
// refuses for a while, and the MV3 extension; it prints one JSON line per
// scenario on standard output, with the events each sent (by the schema's
// "case" dimension), which the Go test then finds in the aggregates.
//
// Environment: VEIL_RELAY (the relay's base URL), VEIL_PIN (the key pin),
// CHROMIUM (default /usr/bin/chromium).

import { build } from "esbuild";
import { createServer } from "node:http";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const relay = process.env.VEIL_RELAY;
const pin = process.env.VEIL_PIN;
if (!relay || !pin) throw new Error("VEIL_RELAY and VEIL_PIN are required");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const log = (...a) => process.stderr.write(a.join(" ") + "\n");

// A bench bundle (seal cost) from the sources, beside the dist files.
const benchJs = (await build({
  absWorkingDir: root, entryPoints: [join(here, "bench.ts")], bundle: true, format: "esm",
  platform: "neutral", mainFields: ["module", "main"], write: false, logLevel: "error",
})).outputFiles[0].contents;

// ---- the relay proxy: refuses, then loses answers, then recovers ----
const flaky = { posts: 0, refused: 0, lost: 0, refuse: 4, lose: 2, block: false };
const proxy = createServer(async (req, res) => {
  const cors = { "access-control-allow-origin": "*", "access-control-expose-headers": "Retry-After" };
  if (req.method === "OPTIONS") {
    res.writeHead(204, { ...cors, "access-control-allow-methods": "POST, GET", "access-control-allow-headers": "Content-Type", "access-control-max-age": "600" });
    return res.end();
  }
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const body = Buffer.concat(chunks);
  if (req.method === "POST") {
    flaky.posts++;
    if (flaky.block) {
      res.writeHead(503, { ...cors, "retry-after": "1" });
      return res.end();
    }
    if (flaky.refused < flaky.refuse) {
      flaky.refused++;
      res.writeHead(503, { ...cors, "retry-after": "1" });
      return res.end();
    }
  }
  const up = await fetch(relay + req.url, { method: req.method, body: req.method === "POST" ? body : undefined, headers: { "content-type": req.headers["content-type"] ?? "" } });
  const upBody = Buffer.from(await up.arrayBuffer());
  if (req.method === "POST" && up.status === 200 && flaky.lost < flaky.lose) {
    // The gateway stored the batch; the page sees a failure.
    flaky.lost++;
    res.writeHead(502, cors);
    return res.end();
  }
  const h = { ...cors };
  for (const k of ["content-type", "cache-control", "retry-after"]) if (up.headers.get(k)) h[k] = up.headers.get(k);
  res.writeHead(up.status, h);
  res.end(upBody);
});

// ---- the pages' origin ----
const csp = `default-src 'self'; script-src 'self'; connect-src ${relay} PROXY; require-trusted-types-for 'script'`;
const pages = createServer((req, res) => {
  const path = new URL(req.url, "http://x").pathname;
  const files = {
    "/dist/veil.js": () => readFileSync(join(root, "dist", "veil.js")),
    "/dist/veil-xwing.js": () => readFileSync(join(root, "dist", "veil-xwing.js")),
    "/bench.js": () => benchJs,
    "/page.html": () => `<!doctype html><meta charset=utf-8><title>veil</title><script type=module src="/main.js"></script>`,
    "/page-xwing.html": () => `<!doctype html><meta charset=utf-8><title>veil</title><script type=module src="/main-xwing.js"></script>`,
    "/bench.html": () => `<!doctype html><meta charset=utf-8><title>veil</title><script type=module src="/bench-main.js"></script>`,
    "/main.js": () => `import * as veil from "/dist/veil.js"; window.veil = veil; window.veilReady = true;`,
    "/main-xwing.js": () => `import * as veil from "/dist/veil-xwing.js"; window.veil = veil; window.veilReady = true;`,
    "/bench-main.js": () => `import * as b from "/bench.js"; window.bench = b; window.veilReady = true;`,
  };
  const f = files[path];
  if (!f) {
    res.writeHead(404);
    return res.end();
  }
  const type = path.endsWith(".html") ? "text/html" : "text/javascript";
  res.writeHead(200, { "content-type": type, "content-security-policy": csp.replace("PROXY", proxyOrigin), "cache-control": "no-store" });
  res.end(f());
});

const listen = (srv, host) => new Promise((r) => srv.listen(0, host, () => r(srv.address().port)));
const proxyOrigin = `http://127.0.0.1:${await listen(proxy, "127.0.0.1")}`;
// "localhost" is another origin than the relay's 127.0.0.1, and a secure
// context (WebCrypto needs one).
const pageOrigin = `http://localhost:${await listen(pages, "127.0.0.1")}`;

const args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"];
const browser = await chromium.launch({ executablePath, headless: true, args });
// Contexts left open until the end of the run (see the navigation scenario).
const lingering = [];
log("chromium", browser.version());
const failures = [];

async function openPage(file) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const kems = [];
  page.on("request", (r) => {
    if (r.method() === "POST" && r.url().endsWith("/gateway")) {
      const b = r.postDataBuffer();
      if (b && b.length > 3) kems.push(b.readUInt16BE(1));
    }
  });
  page.on("pageerror", (e) => log("pageerror", e.message));
  await page.goto(`${pageOrigin}/${file}`);
  await page.waitForFunction(() => window.veilReady === true);
  return { ctx, page, kems };
}

async function scenario(name, f) {
  const t0 = Date.now();
  try {
    const r = await f();
    out({ scenario: name, ok: true, ms: Date.now() - t0, ...r });
  } catch (e) {
    failures.push(name);
    out({ scenario: name, ok: false, error: String(e && e.stack || e) });
  }
}

// Records n events of one case in the page and flushes; returns the statuses.
const recordAndFlush = ({ relay, pin, kase, n, postQuantum, opts }) =>
  (async () => {
    const c = window.veil.createClient({ relay, keyPin: pin, postQuantum, pageHide: false, ...opts });
    for (let i = 0; i < n; i++) c.record("web.test", 1, { case: kase, n: i });
    const t0 = performance.now();
    const rs = await c.flush();
    const ms = performance.now() - t0;
    await c.close();
    const by = {};
    for (const r of rs) by[r.status] = (by[r.status] ?? 0) + 1;
    return { statuses: by, flushMs: ms, stats: c.stats() };
  })();

for (const [kase, file, pq] of [["x25519", "page.html", false], ["xwing", "page-xwing.html", true]]) {
  await scenario(`cross-origin page, ${kase}`, async () => {
    const { ctx, page, kems } = await openPage(file);
    const r = await page.evaluate(recordAndFlush, { relay, pin, kase, n: 20, postQuantum: pq });
    await ctx.close();
    const want = pq ? 0x647a : 0x0020;
    if (r.statuses.accepted !== 20) throw new Error(`statuses ${JSON.stringify(r.statuses)}`);
    if (kems.length === 0 || kems.some((k) => k !== want)) throw new Error(`KEMs used ${kems}`);
    return { sent: { [kase]: 20 }, kems, statuses: r.statuses };
  });
}

await scenario("hidden mid-batch: navigation", async () => {
  const { ctx, page } = await openPage("page.html");
  // The page has talked to the relay before it is hidden (its first batch
  // flushed normally), as a page open for a while has: the page-hide send
  // then needs no CORS preflight of its own, which Chromium does not
  // reliably complete for a document that is going away.
  await page.evaluate(async ({ relay, pin }) => {
    window.client = window.veil.createClient({ relay, keyPin: pin, flushIntervalMs: 600_000, store: undefined });
    for (let i = 0; i < 5; i++) window.client.record("web.test", 1, { case: "hide_nav", n: i });
    await window.client.flush();
    for (let i = 5; i < 15; i++) window.client.record("web.test", 1, { case: "hide_nav", n: i });
  }, { relay, pin });
  await waitSealed(page, 10);
  await page.goto("about:blank"); // pagehide: the pre-sealed batch goes with keepalive
  // The browser stays open, as a user's does after navigating away:
  // closing the context at once would cancel the keepalive fetch, which a
  // real browser lets finish. Closed at the end of the run.
  lingering.push({ ctx, opts: { relay, keyPin: pin } });
  return { sent: { hide_nav: 15 } };
});

await scenario("hidden mid-batch: tab closed", async () => {
  const { ctx, page } = await openPage("page.html");
  await page.evaluate(async ({ relay, pin }) => {
    window.client = window.veil.createClient({ relay, keyPin: pin, flushIntervalMs: 600_000 });
    for (let i = 0; i < 4; i++) window.client.record("web.test", 1, { case: "hide_close", n: i });
    await window.client.flush(); // as above: the relay's preflight is cached
    for (let i = 4; i < 12; i++) window.client.record("web.test", 1, { case: "hide_close", n: i });
  }, { relay, pin });
  await waitSealed(page, 8);
  await page.close({ runBeforeUnload: true });
  lingering.push({ ctx, opts: { relay, keyPin: pin } }); // see the navigation scenario
  return { sent: { hide_close: 12 } };
});

// waitSealed waits until the pending batch of n events is stored in
// IndexedDB, which the client does only after sealing it.
async function waitSealed(page, n) {
  await page.waitForFunction((n) => new Promise((resolve) => {
    const r = indexedDB.open("veil-sdk");
    r.onsuccess = () => {
      const db = r.result;
      if (!db.objectStoreNames.contains("batches")) return resolve(false);
      const g = db.transaction("batches").objectStore("batches").getAll();
      g.onsuccess = () => resolve(g.result.some((b) => b.events.length === n));
      g.onerror = () => resolve(false);
    };
    r.onerror = () => resolve(false);
  }), n, { polling: 50, timeout: 20_000 });
}

await scenario("relay refuses, then loses answers, then recovers", async () => {
  const { ctx, page } = await openPage("page.html");
  const r = await page.evaluate(recordAndFlush, { relay: proxyOrigin, pin, kase: "flaky", n: 30, postQuantum: false, opts: { maxBatchEvents: 10, maxRetryWaitMs: 1500, keysUrl: `${relay}/ohttp-keys-signed` } });
  await ctx.close();
  const delivered = (r.statuses.accepted ?? 0) + (r.statuses.duplicate ?? 0);
  if (delivered !== 30) throw new Error(`statuses ${JSON.stringify(r.statuses)}`);
  if (flaky.refused !== flaky.refuse || flaky.lost !== flaky.lose) throw new Error(`proxy ${JSON.stringify(flaky)}`);
  return { sent: { flaky: 30 }, statuses: r.statuses, proxy: flaky, retries: r.stats.retries };
});

await scenario("undelivered batch goes out on the next page load", async () => {
  flaky.block = true;
  const ctx = await browser.newContext();
  try {
    const page = await ctx.newPage();
    await page.goto(`${pageOrigin}/page.html`);
    await page.waitForFunction(() => window.veilReady === true);
    await page.evaluate(({ relay, pin, keysUrl }) => {
      window.client = window.veil.createClient({ relay, keyPin: pin, keysUrl, flushIntervalMs: 600_000 });
      for (let i = 0; i < 13; i++) window.client.record("web.test", 1, { case: "next_load", n: i });
    }, { relay: proxyOrigin, pin, keysUrl: `${relay}/ohttp-keys-signed` });
    await waitSealed(page, 13);
    await page.close({ runBeforeUnload: true }); // its page-hide send is refused
    flaky.block = false;
    const page2 = await ctx.newPage();
    await page2.goto(`${pageOrigin}/page.html`);
    await page2.waitForFunction(() => window.veilReady === true);
    await page2.evaluate(({ relay, pin, keysUrl }) => {
      window.client = window.veil.createClient({ relay, keyPin: pin, keysUrl });
    }, { relay: proxyOrigin, pin, keysUrl: `${relay}/ohttp-keys-signed` });
    await page2.waitForFunction(() => new Promise((resolve) => {
      const r = indexedDB.open("veil-sdk");
      r.onsuccess = () => {
        const g = r.result.transaction("batches").objectStore("batches").count();
        g.onsuccess = () => resolve(g.result === 0);
      };
    }), null, { polling: 100, timeout: 30_000 });
    lingering.push({ ctx, opts: { relay: proxyOrigin, keyPin: pin, keysUrl: `${relay}/ohttp-keys-signed` } });
    return { sent: { next_load: 13 } };
  } finally {
    flaky.block = false;
  }
});

await scenario("throughput: one page", async () => {
  const { ctx, page } = await openPage("page.html");
  const n = 3000;
  const r = await page.evaluate(recordAndFlush, { relay, pin, kase: "throughput", n, postQuantum: false });
  await ctx.close();
  if (r.statuses.accepted !== n) throw new Error(`statuses ${JSON.stringify(r.statuses)}`);
  return { sent: { throughput: n }, eventsPerSecond: Math.round(n / (r.flushMs / 1000)), requests: r.stats.requests };
});

await scenario("seal cost", async () => {
  const { ctx, page } = await openPage("bench.html");
  const r = await page.evaluate(() => window.bench.sealCost(200));
  await ctx.close();
  return { sent: {}, ...r };
});

// The user comes back: each kept context loads the page once more, and
// the SDK sends what it still holds (a page-hide send the browser did not
// complete, or one whose answer the page never read: a duplicate then).
// Exact counts at the server then prove nothing lost and nothing twice.
for (const { ctx, opts } of lingering) {
  try {
    const page = await ctx.newPage();
    await page.goto(`${pageOrigin}/page.html`);
    await page.waitForFunction(() => window.veilReady === true);
    await page.evaluate((opts) => { window.client = window.veil.createClient(opts); }, opts);
    await page.waitForFunction(() => new Promise((resolve) => {
      const r = indexedDB.open("veil-sdk");
      r.onsuccess = () => {
        const db = r.result;
        if (!db.objectStoreNames.contains("batches")) return resolve(true);
        const g = db.transaction("batches").objectStore("batches").count();
        g.onsuccess = () => resolve(g.result === 0);
        g.onerror = () => resolve(false);
      };
      r.onerror = () => resolve(false);
    }), null, { polling: 100, timeout: 30_000 });
  } catch (e) {
    log("return visit", String(e));
  } finally {
    await ctx.close();
  }
}
await browser.close();

await scenario("MV3 extension service worker", async () => {
  const ext = mkdtempSync(join(tmpdir(), "veil-ext-"));
  const profile = mkdtempSync(join(tmpdir(), "veil-profile-"));
  try {
    cpSync(join(here, "ext"), ext, { recursive: true });
    cpSync(join(root, "dist", "veil.js"), join(ext, "veil.js"));
    const m = JSON.parse(readFileSync(join(ext, "manifest.json"), "utf8"));
    m.host_permissions = [`${relay}/*`];
    writeFileSync(join(ext, "manifest.json"), JSON.stringify(m));
    const ctx = await chromium.launchPersistentContext(profile, {
      executablePath, headless: true,
      args: [...args, `--disable-extensions-except=${ext}`, `--load-extension=${ext}`],
    });
    try {
      let [sw] = ctx.serviceWorkers();
      sw ??= await ctx.waitForEvent("serviceworker", { timeout: 20_000 });
      const r = await sw.evaluate(({ relay, pin }) => self.sendEvents(relay, pin, 11), { relay, pin });
      if (r.accepted !== 11) throw new Error(`statuses ${JSON.stringify(r)}`);
      return { sent: { extension: 11 }, statuses: r };
    } finally {
      await ctx.close();
    }
  } finally {
    rmSync(ext, { recursive: true, force: true });
    rmSync(profile, { recursive: true, force: true });
  }
});

proxy.close();
pages.close();
process.exit(failures.length ? 1 : 0);
