// The client against an in-process relay and gateway (fetch is injected):
// batching, padding, retries, splits, key and date problems, persistence.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient, MemoryStore, type Result, type StoredBatch } from "../../src/index.js";
import { DeliveryError } from "../../src/errors.js";
import { backoff, paddedSize } from "../../src/client.js";
import { encodeResponse, keysDocument, makeKey, openRequest, type GatewayKey } from "./gateway.js";

const relay = "http://127.0.0.1:9/";

type Post = { batchId: string; events: number; bodyLength: number; date: string; gzip: boolean };

class FakeGateway {
  keys: GatewayKey[] = [];
  stored = new Map<string, number>();
  posts: Post[] = [];
  keyFetches = 0;
  /** decides the outer answer of POST number n (from 0); undefined: forward */
  outer: (n: number) => { status: number; retryAfter?: string; afterStoring?: boolean; body?: string; type?: string } | undefined = () => undefined;
  innerTooLarge = (events: number) => events > 1000;
  clockOffsetMs = 0;

  static async start(): Promise<FakeGateway> {
    const g = new FakeGateway();
    g.keys = [await makeKey(1, 0x20)];
    return g;
  }

  total(): number {
    let n = 0;
    for (const v of this.stored.values()) n += v;
    return n;
  }

  fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    if (url.endsWith("/ohttp-keys")) {
      this.keyFetches++;
      return new Response(keysDocument(this.keys) as Uint8Array<ArrayBuffer>, { headers: { "content-type": "application/ohttp-keys", "cache-control": "max-age=300" } });
    }
    assert.equal(url, "http://127.0.0.1:9/gateway");
    assert.equal(init?.method, "POST");
    assert.equal(init?.credentials, "omit");
    assert.equal(init?.referrerPolicy, "no-referrer");
    const body = init!.body as Uint8Array;
    const n = this.posts.length;
    const o = this.outer(n);
    if (o && !o.afterStoring) {
      this.posts.push({ batchId: "", events: 0, bodyLength: body.length, date: "", gzip: false });
      return new Response(o.body ?? "", { status: o.status, headers: { "retry-after": o.retryAfter ?? "", "content-type": o.type ?? "text/plain" } });
    }
    const opened = await openRequest(this.keys, body);
    if (!opened) {
      this.posts.push({ batchId: "", events: 0, bodyLength: body.length, date: "", gzip: false });
      return new Response('{"type":"https://iana.org/assignments/http-problem-types#ohttp-key"}', { status: 400, headers: { "content-type": "application/problem+json" } });
    }
    const req = opened.req;
    const hdr = (k: string) => req.headers.find((h) => h.name === k)?.value ?? "";
    let content = req.content;
    const gzip = hdr("content-encoding") === "gzip";
    if (gzip) content = new Uint8Array(await new Response(new Blob([content as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream("gzip"))).arrayBuffer());
    const doc = JSON.parse(new TextDecoder().decode(content)) as { batch_id: string; events: { schema: string; version: number; fields: Record<string, unknown> }[] };
    this.posts.push({ batchId: doc.batch_id, events: doc.events.length, bodyLength: body.length, date: hdr("date"), gzip });
    const now = Date.now() + this.clockOffsetMs;
    const reply = async (status: number, headers: { name: string; value: string }[], json: unknown) =>
      new Response((await opened.reply(encodeResponse(status, headers, new TextEncoder().encode(JSON.stringify(json))))) as Uint8Array<ArrayBuffer>, { headers: { "content-type": "message/ohttp-res" } });
    if (Math.abs(Date.parse(hdr("date")) - now) > 60_000) {
      return reply(400, [{ name: "content-type", value: "application/problem+json" }, { name: "date", value: new Date(now).toUTCString() }], { type: "https://veil.example/problems#date" });
    }
    if (this.innerTooLarge(doc.events.length)) return reply(413, [], {});
    let results;
    if (this.stored.has(doc.batch_id)) {
      results = doc.events.map((_, i) => ({ index: i, status: "duplicate" }));
    } else {
      const ok = doc.events.filter((e) => e.fields.bad === undefined).length;
      this.stored.set(doc.batch_id, ok);
      results = doc.events.map((e, i) => (e.fields.bad === undefined ? { index: i, status: "accepted" } : { index: String(i), status: "STATUS_REJECTED", reason: "identifier_email", field: "bad" }));
      if (results[0]) delete (results[0] as { index?: unknown }).index; // protojson omits a zero index
    }
    if (o?.afterStoring) return new Response("", { status: o.status });
    return reply(200, [{ name: "content-type", value: "application/json" }], { results });
  };
}

const fast = { flushIntervalMs: 20, maxRetryWaitMs: 30, pageHide: false };

test("batches, padding buckets, results in order", async () => {
  const g = await FakeGateway.start();
  const seen: Result[] = [];
  const c = createClient({ relay, fetch: g.fetch, store: new MemoryStore(), onResult: (r) => seen.push(r), ...fast });
  for (let i = 0; i < 250; i++) c.record("app.launch", 1, { os: i % 2 ? "ios" : "android", cold_start_ms: i });
  c.record("app.launch", 1, { os: "ios", bad: "x@example.com" });
  const rs = await c.flush();
  assert.equal(rs.length, 251);
  assert.deepEqual(rs.map((r) => r.seq), Array.from({ length: 251 }, (_, i) => i + 1));
  assert.equal(rs.filter((r) => r.status === "accepted").length, 250);
  assert.deepEqual(rs[250], { seq: 251, schema: "app.launch", version: 1, status: "rejected", reason: "identifier_email", field: "bad" });
  assert.equal(seen.length, 251);
  assert.equal(g.total(), 250);
  assert.ok(g.posts.every((p) => p.events <= 100));
  assert.equal(new Set(g.posts.map((p) => p.batchId)).size, g.posts.length);
  for (const p of g.posts) assert.ok([1024, 4096, 16384].some((b) => p.bodyLength > b && p.bodyLength <= b + 100), `body ${p.bodyLength}`);
  assert.ok(g.posts.some((p) => p.gzip));
  assert.equal((await c.flush()).length, 0);
  await c.close();
});

test("record never throws: invalid, too large, after close", async () => {
  const g = await FakeGateway.start();
  const c = createClient({ relay, fetch: g.fetch, store: new MemoryStore(), ...fast });
  c.record("", 1, {});
  c.record("a", 0, {});
  c.record("a", 1, { big: "x".repeat(20000) });
  c.record("a", 1, { n: 1n as unknown as number });
  const rs = await c.flush();
  assert.deepEqual(rs.map((r) => r.reason), ["invalid_event", "invalid_event", "event_too_large", "invalid_event"]);
  await c.close();
  c.record("a", 1, {});
  assert.equal(g.posts.length, 0);
});

test("a relay that refuses, then recovers: nothing lost, nothing twice, one batch id", async () => {
  const g = await FakeGateway.start();
  g.outer = (n) => (n < 3 ? { status: 503, retryAfter: "0" } : n < 5 ? { status: 502, afterStoring: true } : undefined);
  const errors: DeliveryError[] = [];
  const c = createClient({ relay, fetch: g.fetch, store: new MemoryStore(), onError: (e) => errors.push(e), maxBatchEvents: 30, ...fast });
  for (let i = 0; i < 60; i++) c.record("app.launch", 1, { os: "ios" });
  const rs = await c.flush();
  assert.equal(g.total(), 60);
  assert.equal(rs.filter((r) => r.status === "accepted" || r.status === "duplicate").length, 60);
  assert.ok(rs.some((r) => r.status === "duplicate"), "a batch stored behind a 502 comes back duplicate");
  assert.equal(new Set(g.posts.filter((p) => p.batchId).map((p) => p.batchId)).size, 2);
  assert.ok(errors.length >= 5 && errors.every((e) => e.op === "send" && e.retryInMs > 0));
  await c.close();
});

test("only an inner 413 splits; an outer 413 drops", async () => {
  const g = await FakeGateway.start();
  g.innerTooLarge = (n) => n > 10;
  const c = createClient({ relay, fetch: g.fetch, store: new MemoryStore(), ...fast });
  for (let i = 0; i < 40; i++) c.record("a", 1, { i });
  const rs = await c.flush();
  assert.equal(rs.filter((r) => r.status === "accepted").length, 40);
  assert.equal(g.total(), 40);
  assert.ok(g.posts.some((p) => p.events === 40) && g.posts.filter((p) => p.batchId && p.events <= 10).length >= 4);
  g.outer = () => ({ status: 413 });
  c.record("a", 1, {});
  assert.deepEqual((await c.flush()).map((r) => r.reason), ["relay_too_large"]);
  await c.close();
});

test("the key problem refetches keys once; the date problem corrects the Date once", async () => {
  const g = await FakeGateway.start();
  const c = createClient({ relay, fetch: g.fetch, store: new MemoryStore(), ...fast });
  c.record("a", 1, {});
  await c.flush();
  assert.equal(g.keyFetches, 1);
  g.keys = [await makeKey(2, 0x20)]; // rotated: the cached key is unknown now
  c.record("a", 1, {});
  assert.equal((await c.flush())[0]!.status, "accepted");
  assert.equal(g.keyFetches, 2);
  g.clockOffsetMs = 200_000;
  c.record("a", 1, {});
  assert.equal((await c.flush())[0]!.status, "accepted");
  const dates = g.posts.slice(-2).map((p) => Date.parse(p.date));
  assert.ok(Math.abs(dates[1]! - dates[0]! - 200_000) < 3000, `dates ${dates}`);
  g.clockOffsetMs = 400_000; // beyond the 5-minute correction cap
  c.record("a", 1, {});
  assert.deepEqual((await c.flush()).map((r) => r.reason), ["clock_skew"]);
  await c.close();
});

class DiskLike extends MemoryStore {
  override readonly persistent = true as unknown as false;
}

test("persistence: what close could not deliver is queued and goes out next time, under its batch id", async () => {
  const g = await FakeGateway.start();
  const store = new DiskLike();
  g.outer = (n) => (n < 1000 ? { status: 503, afterStoring: true } : undefined);
  const c1 = createClient({ relay, fetch: g.fetch, store, ...fast });
  for (let i = 0; i < 12; i++) c1.record("a", 1, { i });
  const rs = await c1.close({ timeoutMs: 300 });
  assert.deepEqual(new Set(rs.map((r) => r.status)), new Set(["queued"]));
  const kept: StoredBatch[] = await store.list();
  assert.equal(kept.reduce((n, b) => n + b.events.length, 0), 12);
  assert.equal(g.total(), 12); // stored, but every answer was lost
  g.outer = () => undefined;
  const later: Result[] = [];
  const c2 = createClient({ relay, fetch: g.fetch, store, onResult: (r) => later.push(r), ...fast });
  for (let i = 0; i < 100 && later.length < 12; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(later.length, 12);
  assert.ok(later.every((r) => r.seq === 0 && r.status === "duplicate"));
  assert.equal(g.total(), 12);
  assert.equal((await store.list()).length, 0);
  await c2.close();
});

test("options: a pin is required off loopback; https required off loopback", () => {
  assert.throws(() => createClient({ relay: "https://relay.example/" }), /keyPin/);
  assert.throws(() => createClient({ relay: "http://relay.example/", insecureNoKeyPin: true }), /http/);
  assert.throws(() => createClient({ relay: "https://relay.example/", keyPin: "veil-pin-ed25519:abc" }), /pin/);
});

test("backoff and padding", () => {
  assert.equal(paddedSize(1), 1024);
  assert.equal(paddedSize(1025), 4096);
  assert.equal(paddedSize(65537), 131072);
  assert.equal(backoff(0, 0, 300_000, () => 0.999999), 1000.999);
  assert.ok(backoff(10, 0, 300_000, () => 0.999999) <= 300_001);
  assert.equal(backoff(0, 5000, 300_000, () => 0.5), 5500);
  assert.equal(backoff(0, 10_000_000, 300_000, () => 0.5), 299_500);
});

test("restored batches go oldest first; an answer after close reports nothing more", async () => {
  const g = await FakeGateway.start();
  const store = new DiskLike();
  const ids = ["C", "A", "B"].map((x) => x.repeat(22));
  await store.replace([], [
    { id: ids[0]!, created: Date.now() - 180_000, events: [{ schema: "a", version: 1, json: '{"schema":"a","version":1,"fields":{}}' }] },
    { id: ids[1]!, created: Date.now() - 300_000, events: [{ schema: "a", version: 1, json: '{"schema":"a","version":1,"fields":{}}' }] },
    { id: ids[2]!, created: Date.now() - 240_000, events: [{ schema: "a", version: 1, json: '{"schema":"a","version":1,"fields":{}}' }] },
  ]);
  const seen: Result[] = [];
  const c = createClient({ relay, fetch: g.fetch, store, onResult: (r) => seen.push(r), ...fast });
  for (let i = 0; i < 100 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(g.posts.map((p) => p.batchId), [ids[1], ids[2], ids[0]]);
  await c.close();

  // A slow answer: close gives up first and says "queued"; the answer,
  // when it comes, clears the store but reports nothing more.
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const slow: typeof fetch = async (input, init) => {
    if (String(input).endsWith("/gateway")) await gate;
    return g.fetch(input, init);
  };
  const late: Result[] = [];
  const c2 = createClient({ relay, fetch: slow, store, onResult: (r) => late.push(r), ...fast });
  c2.record("a", 1, {});
  assert.deepEqual((await c2.close({ timeoutMs: 100 })).map((r) => r.status), ["queued"]);
  release();
  for (let i = 0; i < 100 && (await store.list()).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal((await store.list()).length, 0);
  assert.deepEqual(late.map((r) => r.status), ["queued"]);
});
