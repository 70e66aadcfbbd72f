// The client: record → batch → seal → send through the relay, with the
// Go SDK's wire behaviour (sdk/sender.go): a fresh random batch id per
// batch kept across its retries, padding buckets, Date correction and one
// retry on the date problem, one key refetch on the key problem, only an
// inner 413 splits, backoff with full jitter honouring Retry-After.

import { encodeRequest, decodeResponse, field, type Field, type Response as BResponse } from "./bhttp.js";
import { base64url, utf8 } from "./bytes.js";
import { DeliveryError } from "./errors.js";
import { KeySource, parseRetryAfter, type Key } from "./keys.js";
import { requestMediaType, responseMediaType, sealRequest, type Sealed } from "./ohttp.js";
import { parsePin } from "./signedkeys.js";
import { defaultStore, type BatchStore, type StoredBatch } from "./store.js";

export type Status = "accepted" | "rejected" | "duplicate" | "dropped" | "queued";

/** The outcome of one recorded event. */
export interface Result {
  /** numbers this client's events from 1 in record order; 0 for events a
   * batch from an earlier page load or process carried */
  seq: number;
  schema: string;
  version: number;
  status: Status;
  /** the gateway's reason code (rejected) or the client's (dropped) */
  reason?: string;
  /** the offending field of a rejected event; never its value */
  field?: string;
}

/** Reasons for dropped events (the Go SDK's words, and a few of Record's). */
export const Reason = {
  queueFull: "queue_full",
  expired: "expired",
  retriesExhausted: "retries_exhausted",
  closed: "closed",
  clockSkew: "clock_skew",
  tooLarge: "too_large",
  relayTooLarge: "relay_too_large",
  refused: "refused",
  noResult: "no_result",
  invalidEvent: "invalid_event",
  eventTooLarge: "event_too_large",
} as const;

export interface ClientOptions {
  /** the relay: its origin (then requests go to /gateway) or the full URL
   * encapsulated requests are POSTed to */
  relay: string;
  /** the gateway's key pin, "veil-pin-ed25519:…" (`veil admin keys pin`).
   * Required unless the relay is on loopback or insecureNoKeyPin is set. */
  keyPin?: string;
  /** Warning: without a pin the relay can substitute its own key and read
   * every event. */
  insecureNoKeyPin?: boolean;
  /** allow http:// to a relay that is not on loopback (Warning: anyone on
   * the path sees who sends when) */
  insecureHttp?: boolean;
  /** where keys are fetched; default the relay's origin with
   * /ohttp-keys-signed (with a pin) or /ohttp-keys */
  keysUrl?: string;
  /** prefer the gateway's X-Wing key; needs the xwing entry point */
  postQuantum?: boolean;
  /** every event's outcome, exactly once */
  onResult?: (r: Result) => void;
  /** every failed attempt, with when it is retried */
  onError?: (e: DeliveryError) => void;
  /** events per batch (default 100) */
  maxBatchEvents?: number;
  /** encoded size of a batch before padding (default 16 KiB, so that every
   * batch fits the 16 KiB padding bucket and the page-hide keepalive
   * quota with its OHTTP overhead) */
  maxBatchBytes?: number;
  /** how long an event waits for its batch to fill (default 5 s) */
  flushIntervalMs?: number;
  /** events held and not yet answered (default 10,000): past it record
   * drops the newest with queue_full */
  maxQueueEvents?: number;
  /** how long a batch may wait for delivery (default 7 days, the gateway's
   * deduplication horizon) */
  maxAgeMs?: number;
  /** batches kept in the store (default 1000); the oldest go first */
  maxStoredBatches?: number;
  /** requests per batch (default 0: retried until maxAgeMs) */
  maxAttempts?: number;
  /** cap on a backoff wait or a Retry-After (default 5 min) */
  maxRetryWaitMs?: number;
  /** where batches wait: IndexedDB in browsers, memory elsewhere */
  store?: BatchStore;
  /** keep the pending batch sealed and send it with fetch keepalive when
   * the page is hidden (default: on where there is a document) */
  pageHide?: boolean;
  /** how old the pre-sealed batch may get before it is sealed again with
   * a fresh Date; below half the gateway's 5-minute Date window (default
   * 2 min) */
  resealMs?: number;
  /** the fetch to use (default globalThis.fetch) */
  fetch?: typeof fetch;
}

const defaults = {
  maxBatchEvents: 100,
  maxBatchBytes: 16 << 10,
  flushIntervalMs: 5000,
  maxQueueEvents: 10000,
  maxAgeMs: 7 * 24 * 3600_000,
  maxStoredBatches: 1000,
  maxAttempts: 0,
  maxRetryWaitMs: 5 * 60_000,
  resealMs: 2 * 60_000,
};
/** what a batch costs beyond its events: envelope and Binary HTTP framing */
const batchOverhead = 256;
const backoffBaseMs = 1000;
/** the gateway's default replay window: a Date correction is capped by it */
const maxClockCorrectionMs = 5 * 60_000;
/** Chromium's keepalive quota is 64 KiB in flight per page */
const keepaliveMaxBytes = 32 << 10;
const maxResponseBytes = 4 << 20;

export type Fields = Record<string, string | number | boolean | null | undefined>;

/** The client's public surface. T maps schema names to their field types,
 * so that record("app.launch", 1, {...}) is checked by the compiler. */
export interface VeilClient<T extends Record<string, Fields> = Record<string, Fields>> {
  /** queues one event; never throws and never waits for the network */
  record<S extends keyof T & string>(schema: S, version: number, fields: T[S]): void;
  /** sends everything recorded and resolves to one result per event
   * recorded since the last flush, in order */
  flush(opts?: { signal?: AbortSignal }): Promise<Result[]>;
  /** flushes (waiting at most timeoutMs, default 10 s), then stops;
   * unanswered events are "queued" in a persistent store, else dropped */
  close(opts?: { timeoutMs?: number }): Promise<Result[]>;
  stats(): Stats;
}

export interface Stats {
  recorded: number;
  accepted: number;
  duplicate: number;
  rejected: number;
  dropped: number;
  requests: number;
  retries: number;
  keyFetches: number;
  /** requests sent by the page-hide handler */
  hideSends: number;
}

interface Ev {
  seq: number;
  schema: string;
  version: number;
  json: string;
}

interface Batch {
  id: string;
  created: number;
  events: Ev[];
  /** settles once the store holds exactly these events under id */
  stored: Promise<void>;
  /** a request already on its way (the page-hide send) */
  inflight?: { sealed: Sealed; resp: Promise<Response> };
}

/** createClient checks the options and starts a client. It throws for
 * options that are wrong (no pin for a remote relay, a bad pin, http://);
 * it does no network I/O before the first event but the key warm-up. */
export function createClient<T extends Record<string, Fields> = Record<string, Fields>>(o: ClientOptions): VeilClient<T> {
  return new Client(o) as unknown as VeilClient<T>;
}

function isLoopback(u: URL): boolean {
  const h = u.hostname.toLowerCase();
  return h === "localhost" || h === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

export function newBatchId(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(16)));
}

/** paddedSize: 1, 4, 16 or 64 KiB, then multiples of 64 KiB. */
export function paddedSize(n: number): number {
  for (const b of [1 << 10, 4 << 10, 16 << 10, 64 << 10]) if (n <= b) return b;
  const step = 64 << 10;
  return Math.ceil(n / step) * step;
}

/** backoff: full jitter in [0, min(max, base·2ⁿ)); a Retry-After is a
 * minimum plus up to one base of jitter, capped at max. */
export function backoff(n: number, retryAfterMs: number, maxMs: number, rand = Math.random): number {
  if (retryAfterMs > 0) {
    const jitter = rand() * Math.min(backoffBaseMs, maxMs);
    return retryAfterMs <= maxMs - jitter ? retryAfterMs + jitter : maxMs - jitter;
  }
  const ceiling = n < 30 ? Math.min(maxMs, backoffBaseMs * 2 ** n) : maxMs;
  return rand() * ceiling + 1;
}

type Outcome =
  | { kind: "done"; results: Result[] }
  | { kind: "split"; err: DeliveryError }
  | { kind: "drop"; reason: string; err: DeliveryError }
  | { kind: "retry"; err: DeliveryError }
  | { kind: "keys"; err: DeliveryError }
  | { kind: "date"; offsetMs: number; err: DeliveryError };

class Client {
  readonly #cfg: Required<Omit<ClientOptions, "keyPin" | "keysUrl" | "onResult" | "onError" | "insecureNoKeyPin" | "insecureHttp" | "postQuantum" | "store" | "pageHide" | "fetch">>;
  readonly #relayUrl: string;
  readonly #keys: KeySource;
  readonly #store: BatchStore;
  readonly #fetch: typeof fetch;
  readonly #onResult?: (r: Result) => void;
  readonly #onError?: (e: DeliveryError) => void;
  readonly #owner = `veil-${newBatchId()}`;
  #releaseLock?: () => void;

  #seq = 0;
  #flushedSeq = 0;
  #closed = false;
  #held = 0; // events recorded and not answered
  #pending: Batch | undefined;
  #pendingSealed: { n: number; sealed: Sealed; at: number; stored: Promise<void> } | undefined;
  #sealing = false;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #resealTimer: ReturnType<typeof setInterval> | undefined;
  #queue: Batch[] = [];
  #sending = false;
  readonly #results = new Map<number, Result>();
  #waiters: { target: number; resolve: () => void }[] = [];
  #stopSleep: (() => void) | undefined;
  readonly #restored: Promise<void>;
  readonly #st: Stats = { recorded: 0, accepted: 0, duplicate: 0, rejected: 0, dropped: 0, requests: 0, retries: 0, keyFetches: 0, hideSends: 0 };
  readonly #unhook: (() => void)[] = [];

  constructor(o: ClientOptions) {
    if (!o || typeof o.relay !== "string") throw new TypeError("veil: relay required");
    let relay: URL;
    try {
      relay = new URL(o.relay);
    } catch {
      throw new TypeError("veil: relay must be a URL");
    }
    if (relay.pathname === "/" || relay.pathname === "") relay = new URL("/gateway", relay);
    const keysUrl = new URL(o.keysUrl ?? (o.keyPin ? "/ohttp-keys-signed" : "/ohttp-keys"), relay);
    for (const u of [relay, keysUrl]) {
      if (u.protocol !== "https:" && u.protocol !== "http:") throw new TypeError("veil: relay must be http(s)");
      if (u.username || u.password) throw new TypeError("veil: relay must not carry credentials");
      if (u.protocol === "http:" && !isLoopback(u) && !o.insecureHttp) {
        throw new TypeError("veil: http:// relay not on loopback");
      }
    }
    const pin = o.keyPin ? parsePin(o.keyPin) : undefined;
    if (!pin && !o.insecureNoKeyPin && !(isLoopback(relay) && isLoopback(keysUrl))) {
      throw new TypeError("veil: keyPin required (veil admin keys pin) for a relay not on loopback");
    }
    const num = (k: keyof typeof defaults) => {
      const v = (o as unknown as Record<string, unknown>)[k];
      if (v === undefined) return defaults[k];
      if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new TypeError(`veil: ${k} must be a non-negative number`);
      return v || defaults[k];
    };
    this.#cfg = {
      relay: relay.href,
      maxBatchEvents: num("maxBatchEvents"),
      maxBatchBytes: num("maxBatchBytes"),
      flushIntervalMs: num("flushIntervalMs"),
      maxQueueEvents: num("maxQueueEvents"),
      maxAgeMs: num("maxAgeMs"),
      maxStoredBatches: num("maxStoredBatches"),
      maxAttempts: o.maxAttempts ?? 0,
      maxRetryWaitMs: num("maxRetryWaitMs"),
      resealMs: num("resealMs"),
    };
    const mb = this.#cfg.maxBatchBytes;
    if (mb < 1024 || mb > 65536) throw new TypeError("veil: maxBatchBytes must be 1024..65536");
    if (this.#cfg.resealMs >= 150_000) throw new TypeError("veil: resealMs must be below 150 s");
    this.#relayUrl = relay.href;
    this.#fetch = o.fetch ?? globalThis.fetch.bind(globalThis);
    this.#onResult = o.onResult;
    this.#onError = o.onError;
    this.#store = o.store ?? defaultStore();
    this.#keys = new KeySource({ url: keysUrl.href, pin, postQuantum: !!o.postQuantum, fetch: this.#fetch, now: () => Date.now() });
    this.#holdLock();
    this.#restored = this.#restore();
    const doc = (globalThis as { document?: Document }).document;
    if ((o.pageHide ?? doc !== undefined) && typeof addEventListener === "function") {
      // A page-hide send must fit the keepalive quota: the 16 KiB bucket.
      if (mb > 16384) throw new TypeError("veil: maxBatchBytes > 16384 with pageHide");
      this.#hookPageHide(doc);
    }
    void this.#warmUp();
  }

  stats(): Stats {
    return { ...this.#st, keyFetches: this.#keys.fetches };
  }

  // ---- recording ----

  record(schema: string, version: number, fields: Fields): void {
    const seq = ++this.#seq;
    this.#st.recorded++;
    const drop = (reason: string) => this.#report([{ seq, schema: String(schema), version: Number(version), status: "dropped", reason }]);
    if (this.#closed) return drop(Reason.closed);
    if (typeof schema !== "string" || schema === "" || !Number.isInteger(version) || version < 1 || typeof fields !== "object" || fields === null) {
      return drop(Reason.invalidEvent);
    }
    let json: string;
    try {
      json = JSON.stringify({ schema, version, fields });
    } catch {
      return drop(Reason.invalidEvent);
    }
    const size = utf8.encode(json).length + 1;
    if (size + batchOverhead > this.#cfg.maxBatchBytes) return drop(Reason.eventTooLarge);
    if (this.#held >= this.#cfg.maxQueueEvents) return drop(Reason.queueFull);
    this.#held++;
    if (this.#pending && (this.#pending.events.length >= this.#cfg.maxBatchEvents || this.#batchBytes(this.#pending) + size > this.#cfg.maxBatchBytes)) {
      this.#cut();
    }
    if (!this.#pending) {
      this.#pending = { id: newBatchId(), created: Date.now(), events: [], stored: Promise.resolve() };
      clearTimeout(this.#flushTimer);
      this.#flushTimer = setTimeout(() => this.#cut(), this.#cfg.flushIntervalMs);
    }
    this.#pending.events.push({ seq, schema, version, json });
    if (this.#pending.events.length >= this.#cfg.maxBatchEvents) this.#cut();
    else if (this.#resealTimer) this.#kickSeal(); // only pages pre-seal
  }

  #batchBytes(b: { events: Ev[] }): number {
    let n = batchOverhead;
    for (const e of b.events) n += utf8.encode(e.json).length + 1;
    return n;
  }

  // ---- the pending batch: stored and sealed ahead of a page hide ----

  /** kickSeal brings the stored and sealed copies of the pending batch up
   * to date, one pass at a time. Each pass seals a snapshot first and then
   * stores it, so the store never holds more of a batch than a sealed
   * request of it that the page-hide handler may send; a stored batch is a
   * prefix of what was sent, and resending it is answered "duplicate". */
  #kickSeal(): void {
    if (this.#sealing) return;
    this.#sealing = true;
    void (async () => {
      try {
        for (;;) {
          const p = this.#pending;
          if (!p || (this.#pendingSealed && this.#pendingSealed.n === p.events.length && Date.now() - this.#pendingSealed.at < this.#cfg.resealMs / 2)) break;
          const n = p.events.length;
          const key = this.#keys.current() ?? (await this.#keys.get());
          const sealed = await this.#seal(p.id, p.events.slice(0, n), key, 0);
          if (this.#pending !== p) break;
          const snap = this.#snapshot(p, n);
          const stored = this.#pendingSealed?.n === n ? this.#pendingSealed.stored : this.#store.replace([], [snap]);
          p.stored = stored;
          this.#pendingSealed = { n, sealed, at: Date.now(), stored };
          await stored;
        }
      } catch {
        // No keys yet or the store failed: the page-hide send is skipped
        // and the batch goes out when it is cut, like any other.
      } finally {
        this.#sealing = false;
      }
    })();
  }

  #snapshot(b: Batch, n: number, owned = true): StoredBatch {
    const s: StoredBatch = { id: b.id, created: Math.floor(b.created / 60_000) * 60_000, events: b.events.slice(0, n).map(({ schema, version, json }) => ({ schema, version, json })) };
    if (owned) s.owner = this.#owner;
    return s;
  }

  /** cut moves the pending batch to the send queue. */
  #cut(): void {
    clearTimeout(this.#flushTimer);
    const p = this.#pending;
    if (!p) return;
    this.#pending = undefined;
    this.#pendingSealed = undefined;
    // Store exactly these events under the batch id before it is sent;
    // the write is ordered after any earlier write of a snapshot.
    p.stored = this.#store.replace([], [this.#snapshot(p, p.events.length, false)]).catch(() => undefined);
    this.#enqueue(p);
  }

  #hookPageHide(doc: Document | undefined): void {
    const onHide = () => this.#pageHidden();
    const onVis = () => {
      if (doc?.visibilityState === "hidden") this.#pageHidden();
    };
    addEventListener("pagehide", onHide);
    doc?.addEventListener("visibilitychange", onVis);
    this.#unhook.push(() => removeEventListener("pagehide", onHide), () => doc?.removeEventListener("visibilitychange", onVis));
    this.#resealTimer = setInterval(() => this.#kickSeal(), Math.max(1000, this.#cfg.resealMs / 2));
  }

  /** pageHidden sends the pre-sealed pending batch with fetch keepalive,
   * which outlives the page. Only fetch is called here: sealing was done
   * ahead of time. Events recorded after the last seal go to a batch of
   * their own, stored for the next load. */
  #pageHidden(): void {
    const p = this.#pending;
    const s = this.#pendingSealed;
    if (!p) return;
    clearTimeout(this.#flushTimer);
    this.#pending = undefined;
    this.#pendingSealed = undefined;
    if (!s || Date.now() - s.at > 2 * this.#cfg.resealMs) {
      // Nothing sealed (no keys yet): store it for the next load.
      this.#pending = p;
      this.#cut();
      return;
    }
    const rest = p.events.slice(s.n);
    p.events = p.events.slice(0, s.n);
    p.stored = s.stored;
    this.#st.hideSends++;
    this.#st.requests++;
    const resp = this.#post(s.sealed.body, true);
    resp.catch(() => undefined);
    p.inflight = { sealed: s.sealed, resp };
    this.#enqueue(p);
    if (rest.length > 0) {
      const r: Batch = { id: newBatchId(), created: p.created, events: rest, stored: Promise.resolve() };
      this.#pending = r;
      this.#cut();
    }
  }

  // ---- restoring batches of earlier loads ----

  #holdLock(): void {
    const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
    if (!locks) return;
    const held = new Promise<void>((resolve) => (this.#releaseLock = resolve));
    void locks.request(this.#owner, () => held).catch(() => undefined);
  }

  async #restore(): Promise<void> {
    let stored: StoredBatch[];
    try {
      stored = await this.#store.list();
    } catch {
      return;
    }
    let live = new Set<string>();
    const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
    if (locks) {
      try {
        const q = await locks.query();
        live = new Set((q.held ?? []).map((l) => l.name ?? ""));
      } catch {
        // no lock information: take every batch
      }
    }
    const now = Date.now();
    stored = stored.filter((b) => !(b.owner && (b.owner === this.#owner || live.has(b.owner))));
    stored.sort((a, b) => a.created - b.created);
    const expired = stored.filter((b) => now - b.created > this.#cfg.maxAgeMs);
    const over = Math.max(0, stored.length - expired.length - this.#cfg.maxStoredBatches);
    const keep = stored.filter((b) => now - b.created <= this.#cfg.maxAgeMs);
    const gone = [...expired, ...keep.splice(0, over)];
    if (gone.length > 0) {
      await this.#store.replace(gone.map((b) => b.id), []).catch(() => undefined);
      for (const b of gone) {
        this.#report(b.events.map((e) => ({ seq: 0, schema: e.schema, version: e.version, status: "dropped" as const, reason: expired.includes(b) ? Reason.expired : Reason.queueFull })));
      }
    }
    // Oldest first, ahead of this client's own batches.
    this.#queue.unshift(
      ...keep.filter((b) => !this.#queue.some((q) => q.id === b.id)).map((b) => ({ id: b.id, created: b.created, events: b.events.map((e) => ({ seq: 0, ...e })), stored: Promise.resolve() })),
    );
    this.#wake();
  }

  async #warmUp(): Promise<void> {
    try {
      const key = await this.#keys.get();
      await this.#seal(newBatchId(), [], key, 0); // first seals in a page are cold
    } catch {
      // reported when a batch is sent
    }
  }

  // ---- sending ----

  #enqueue(b: Batch): void {
    this.#queue.push(b);
    this.#wake();
  }

  #wake(): void {
    if (this.#sending) return;
    this.#sending = true;
    void this.#sendLoop().finally(() => {
      this.#sending = false;
      if (this.#queue.length > 0 && !this.#closed) this.#wake();
    });
  }

  async #sendLoop(): Promise<void> {
    await this.#restored;
    while (this.#queue.length > 0 && !this.#closed) {
      const b = this.#queue[0]!;
      await b.stored;
      const done = await this.#deliver(b);
      if (!done) return; // closed
      this.#queue.shift();
      if (done.halves) {
        const [h1, h2] = done.halves;
        await this.#store.replace([b.id], [this.#snapshot(h1, h1.events.length, false), this.#snapshot(h2, h2.events.length, false)]).catch(() => undefined);
        this.#queue.unshift(h1, h2);
        continue;
      }
      await this.#store.replace([b.id], []).catch(() => undefined);
      // After close gave these events their last result ("queued"), an
      // answer arriving late only clears the store.
      if (!this.#closed) this.#report(done.results);
    }
  }

  async #deliver(b: Batch): Promise<{ results: Result[]; halves?: undefined } | { halves: [Batch, Batch]; results?: undefined } | undefined> {
    let keysRefreshed = false;
    let dateCorrected = false;
    let failures = 0;
    let offsetMs = 0;
    const drop = (reason: string) => ({ results: b.events.map((e) => this.#result(e, "dropped", reason)) });
    for (let n = 1; ; n++) {
      if (this.#cfg.maxAttempts > 0 && n > this.#cfg.maxAttempts) return drop(Reason.retriesExhausted);
      if (Date.now() - b.created > this.#cfg.maxAgeMs) return drop(Reason.expired);
      const a = await this.#attempt(b, offsetMs, n > 1);
      if (a.kind === "done") return { results: a.results };
      if (this.#closed) return undefined;
      switch (a.kind) {
        case "split": {
          this.#failed(a.err, 0);
          if (b.events.length === 1) return drop(Reason.tooLarge);
          const half = Math.floor(b.events.length / 2);
          const mk = (events: Ev[]): Batch => ({ id: newBatchId(), created: b.created, events, stored: Promise.resolve() });
          return { halves: [mk(b.events.slice(0, half)), mk(b.events.slice(half))] };
        }
        case "drop":
          this.#failed(a.err, 0);
          return drop(a.reason);
        case "date":
          this.#failed(a.err, 0);
          if (!dateCorrected) {
            dateCorrected = true;
            offsetMs = a.offsetMs;
            continue;
          }
          return drop(Reason.clockSkew);
        case "keys":
          this.#keys.invalidate();
          if (!keysRefreshed) {
            keysRefreshed = true;
            this.#failed(a.err, 0);
            continue;
          }
      }
      if (this.#cfg.maxAttempts > 0 && n >= this.#cfg.maxAttempts) {
        this.#failed(a.err, 0);
        return drop(Reason.retriesExhausted);
      }
      const wait = backoff(failures++, a.err.retryAfterMs, this.#cfg.maxRetryWaitMs);
      this.#failed(a.err, wait);
      await this.#sleep(wait);
      if (this.#closed) return undefined;
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.#stopSleep = done;
    });
  }

  #failed(err: DeliveryError, retryInMs: number): void {
    err.retryInMs = retryInMs;
    try {
      this.#onError?.(err);
    } catch {
      // the app's handler must not stop delivery
    }
  }

  async #attempt(b: Batch, offsetMs: number, retry: boolean): Promise<Outcome> {
    const relay = this.#relayUrl;
    const err = (msg: string, status = 0, retryAfterMs = 0) => new DeliveryError("send", relay, msg, status, retryAfterMs);
    let sealed: Sealed;
    let resp: Response;
    try {
      if (b.inflight) {
        ({ sealed } = b.inflight);
        const p = b.inflight.resp;
        b.inflight = undefined;
        resp = await p;
      } else {
        let key: Key;
        try {
          key = await this.#keys.get();
        } catch (e) {
          return { kind: "retry", err: e instanceof DeliveryError ? e : err(String(e)) };
        }
        sealed = await this.#seal(b.id, b.events, key, offsetMs);
        this.#st.requests++;
        if (retry) this.#st.retries++;
        resp = await this.#post(sealed.body, sealed.body.length <= keepaliveMaxBytes);
      }
    } catch (e) {
      return { kind: "retry", err: err(`unreachable: ${(e as Error).message}`) };
    }
    let body: Uint8Array;
    try {
      body = new Uint8Array(await resp.arrayBuffer());
    } catch (e) {
      return { kind: "retry", err: err(`reading the answer: ${(e as Error).message}`) };
    }
    const now = Date.now();
    if (resp.status !== 200) {
      const e = err(`status ${resp.status}`, resp.status, parseRetryAfter(resp.headers.get("retry-after"), now));
      const code = resp.status;
      // Only the gateway's own 413, inside the encapsulated answer, may
      // split: this one came from the relay, which could have forwarded
      // the batch anyway, and halves under new ids would store it twice.
      if (code === 413) return { kind: "drop", reason: Reason.relayTooLarge, err: e };
      if (code === 429 || code >= 500 || code === 408) return { kind: "retry", err: e };
      // An unencapsulated client error: most likely a key the gateway no
      // longer has (RFC 9458 §5.3): refetch the keys once.
      return { kind: "keys", err: e };
    }
    const mt = (resp.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (mt !== responseMediaType || body.length > maxResponseBytes) {
      return { kind: "retry", err: err(`unexpected answer: content type "${mt}", ${body.length} bytes`) };
    }
    let inner: BResponse;
    try {
      inner = decodeResponse(await sealed.open(body));
    } catch (e) {
      return { kind: "retry", err: err((e as Error).message) };
    }
    return this.#classifyInner(b, inner, err, now);
  }

  #classifyInner(b: Batch, r: BResponse, err: (m: string, s?: number, ra?: number) => DeliveryError, now: number): Outcome {
    const code = r.status;
    const e = err("answered by the gateway", code);
    if (code === 200) {
      try {
        return { kind: "done", results: this.#parseResults(r.content, b.events) };
      } catch (x) {
        // It may have been stored: the retry, same batch id, says duplicate.
        return { kind: "retry", err: err((x as Error).message, code) };
      }
    }
    if (code === 413) return { kind: "split", err: e };
    if (code === 429 || code >= 500) {
      return { kind: "retry", err: err("answered by the gateway", code, parseRetryAfter(field(r.headers, "retry-after"), now)) };
    }
    const ptype = problemType(r.headers, r.content);
    if (code === 400 && ptype.endsWith("#date")) {
      const t = Date.parse(field(r.headers, "date"));
      if (!Number.isFinite(t)) return { kind: "drop", reason: Reason.clockSkew, err: err("gateway refused the request's Date and sent none", code) };
      const d = Math.round((t - now) / 1000) * 1000;
      return { kind: "date", offsetMs: Math.min(Math.max(d, -maxClockCorrectionMs), maxClockCorrectionMs), err: err("gateway refused the request's Date", code) };
    }
    if (code >= 400) return { kind: "drop", reason: Reason.refused, err: err(`answered by the gateway${ptype ? `, problem ${ptype}` : ""}`, code) };
    return { kind: "retry", err: e };
  }

  #parseResults(content: Uint8Array, evs: Ev[]): Result[] {
    const doc = JSON.parse(new TextDecoder().decode(content)) as { results?: unknown };
    if (!doc || typeof doc !== "object" || (doc.results !== undefined && !Array.isArray(doc.results))) throw new Error("veil: malformed results");
    const out = evs.map((e) => this.#result(e, "dropped", Reason.noResult));
    const seen = new Set<number>();
    for (const r of (doc.results ?? []) as Record<string, unknown>[]) {
      if (!r || typeof r !== "object") continue;
      const i = r.index === undefined || r.index === null ? 0 : Number(r.index);
      if (!Number.isInteger(i) || i < 0 || i >= evs.length || seen.has(i)) continue;
      seen.add(i);
      let s = String(r.status ?? "").toLowerCase();
      const k = s.lastIndexOf("status_");
      if (k >= 0) s = s.slice(k + 7);
      const res = out[i]!;
      if (s === "accepted" || s === "duplicate") {
        res.status = s;
        delete res.reason;
      } else if (s === "rejected") {
        res.status = "rejected";
        res.reason = typeof r.reason === "string" ? r.reason : "";
        if (typeof r.field === "string" && r.field) res.field = r.field;
      }
    }
    return out;
  }

  #result(e: Ev, status: Status, reason?: string): Result {
    const r: Result = { seq: e.seq, schema: e.schema, version: e.version, status };
    if (reason) r.reason = reason;
    return r;
  }

  /** seal encodes and encapsulates one request for a batch: POST
   * /v1/events, JSON (gzipped when smaller), dated now plus the batch's
   * correction, padded to its bucket. */
  async #seal(id: string, events: Ev[], key: Key, offsetMs: number): Promise<Sealed> {
    const plain = utf8.encode(`{"batch_id":${JSON.stringify(id)},"events":[${events.map((e) => e.json).join(",")}]}`);
    let content: Uint8Array = plain;
    const headers: Field[] = [
      { name: "content-type", value: "application/json" },
      { name: "date", value: new Date(Date.now() + offsetMs).toUTCString() },
    ];
    if (plain.length >= 256) {
      const gz = await gzip(plain);
      if (gz && gz.length < plain.length) {
        content = gz;
        headers.push({ name: "content-encoding", value: "gzip" });
      }
    }
    const req = { method: "POST", scheme: "https", authority: "veil", path: "/v1/events", headers, content };
    const unpadded = encodeRequest(req);
    return sealRequest(key.config, key.suite, encodeRequest(req, paddedSize(unpadded.length)));
  }

  #post(body: Uint8Array, keepalive: boolean): Promise<Response> {
    return this.#fetch(this.#relayUrl, {
      method: "POST",
      headers: { "content-type": requestMediaType },
      body: body as Uint8Array<ArrayBuffer>,
      keepalive,
      credentials: "omit",
      referrerPolicy: "no-referrer",
      cache: "no-store",
      mode: "cors",
    });
  }

  // ---- results, flush and close ----

  #report(rs: Result[]): void {
    for (const r of rs) {
      if (r.status === "accepted") this.#st.accepted++;
      else if (r.status === "duplicate") this.#st.duplicate++;
      else if (r.status === "rejected") this.#st.rejected++;
      else if (r.status === "dropped") this.#st.dropped++;
      if (r.seq > 0) {
        this.#results.set(r.seq, r);
        if (r.status !== "dropped" || (r.reason !== Reason.invalidEvent && r.reason !== Reason.eventTooLarge && r.reason !== Reason.queueFull && r.reason !== Reason.closed)) this.#held--;
      }
      try {
        this.#onResult?.(r);
      } catch {
        // the app's handler must not stop delivery
      }
    }
    this.#waiters = this.#waiters.filter((w) => {
      if (!this.#answered(w.target)) return true;
      w.resolve();
      return false;
    });
  }

  #answered(target: number): boolean {
    for (let s = this.#flushedSeq + 1; s <= target; s++) if (!this.#results.has(s)) return false;
    return true;
  }

  async flush(opts: { signal?: AbortSignal } = {}): Promise<Result[]> {
    const target = this.#seq;
    this.#cut();
    await new Promise<void>((resolve) => {
      if (this.#answered(target)) return resolve();
      const w = { target, resolve };
      this.#waiters.push(w);
      opts.signal?.addEventListener("abort", () => {
        this.#waiters = this.#waiters.filter((x) => x !== w);
        resolve();
      });
    });
    return this.#collect(target, this.#store.persistent ? "queued" : "dropped");
  }

  #collect(target: number, missing: Status): Result[] {
    const out: Result[] = [];
    const waiting = new Map<number, Ev>();
    for (const b of this.#pending ? [...this.#queue, this.#pending] : this.#queue) for (const e of b.events) waiting.set(e.seq, e);
    for (let s = this.#flushedSeq + 1; s <= target; s++) {
      let r = this.#results.get(s);
      if (!r) {
        const e = waiting.get(s);
        r = { seq: s, schema: e?.schema ?? "", version: e?.version ?? 0, status: missing };
        if (missing === "dropped") r.reason = Reason.closed;
      }
      out.push(r);
      this.#results.delete(s);
    }
    this.#flushedSeq = target;
    return out;
  }

  async close(opts: { timeoutMs?: number } = {}): Promise<Result[]> {
    if (this.#closed) return [];
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(), opts.timeoutMs ?? 10_000);
    const out = await this.flush({ signal: ac.signal });
    clearTimeout(t);
    this.#closed = true;
    this.#stopSleep?.();
    clearTimeout(this.#flushTimer);
    clearInterval(this.#resealTimer);
    for (const u of this.#unhook) u();
    this.#releaseLock?.();
    // Events still unanswered are "queued" in a persistent store (the next
    // load sends them under the same batch id) and lost in memory; either
    // way this is their last result from this client.
    for (const r of out) {
      if (r.status === "queued" || r.reason === Reason.closed) {
        if (r.status === "dropped") this.#st.dropped++;
        try {
          this.#onResult?.(r);
        } catch {
          // the app's handler must not stop close
        }
      }
    }
    return out;
  }
}

function problemType(headers: Field[], content: Uint8Array): string {
  if (field(headers, "content-type").split(";")[0]!.trim().toLowerCase() !== "application/problem+json") return "";
  try {
    const p = JSON.parse(new TextDecoder().decode(content)) as { type?: unknown };
    return typeof p?.type === "string" ? p.type : "";
  } catch {
    return "";
  }
}

async function gzip(b: Uint8Array): Promise<Uint8Array | undefined> {
  if (typeof CompressionStream === "undefined") return undefined;
  const s = new Blob([b as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(s).arrayBuffer());
}
