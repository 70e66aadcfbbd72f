// Fetching the gateway's keys through the relay (key consistency, RFC 9458
// §7), authenticating them against the key pin, and picking the one to
// seal to, cached for the document's max-age.

import { FormatError } from "./bytes.js";
import { DeliveryError } from "./errors.js";
import { KEM_X25519, KEM_XWING, keysMediaType, parseKeyConfigs, suiteSupported, type KeyConfig, type Suite } from "./ohttp.js";
import { maxSignedLength, signedKeysMediaType, verifySigned } from "./signedkeys.js";

const maxKeysBytes = 64 << 10;
const minKeysAgeMs = 60_000;
const maxKeysAgeMs = 24 * 3600_000;
const defaultKeysAgeMs = 3600_000;
/** at most two configurations per KEM: more could single clients out */
const maxConfigsPerKEM = 2;

export interface Key {
  config: KeyConfig;
  suite: Suite;
}

export interface KeySourceOptions {
  url: string;
  pin?: Uint8Array;
  postQuantum: boolean;
  fetch: typeof fetch;
  now(): number;
}

export class KeySource {
  #key: Key | undefined;
  #expires = 0;
  #inflight: Promise<Key> | undefined;
  fetches = 0;
  constructor(private readonly o: KeySourceOptions) {}

  invalidate(): void {
    this.#key = undefined;
  }

  /** current returns the cached key if it is still fresh. */
  current(): Key | undefined {
    return this.#key && this.o.now() < this.#expires ? this.#key : undefined;
  }

  get(): Promise<Key> {
    const k = this.current();
    if (k) return Promise.resolve(k);
    this.#inflight ??= this.#fetchKeys().finally(() => (this.#inflight = undefined));
    return this.#inflight;
  }

  async #fetchKeys(): Promise<Key> {
    const { url, pin } = this.o;
    const fail = (msg: string, status = 0, retryAfterMs = 0) => new DeliveryError("fetch_keys", url, msg, status, retryAfterMs);
    this.fetches++;
    let resp: Response;
    try {
      resp = await this.o.fetch(url, {
        headers: { accept: pin ? signedKeysMediaType : keysMediaType },
        credentials: "omit",
        referrerPolicy: "no-referrer",
        cache: "no-store",
      });
    } catch (e) {
      throw fail(`unreachable: ${(e as Error).message}`);
    }
    const body = new Uint8Array(await resp.arrayBuffer().catch(() => new ArrayBuffer(0)));
    if (resp.status !== 200) {
      throw fail(`status ${resp.status}`, resp.status, parseRetryAfter(resp.headers.get("retry-after"), this.o.now()));
    }
    const mt = (resp.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    let doc: Uint8Array;
    if (pin) {
      if (mt !== signedKeysMediaType) throw fail(`not authenticated: content type ${mt}`);
      if (body.length > maxSignedLength) throw fail("not authenticated: too long");
      try {
        doc = await verifySigned(body, pin);
      } catch (e) {
        throw fail((e as Error).message);
      }
    } else {
      if (mt !== keysMediaType) throw fail(`content type ${mt}`);
      if (body.length > maxKeysBytes) throw fail("key document too long");
      doc = body;
    }
    let configs: KeyConfig[];
    try {
      configs = parseKeyConfigs(doc);
    } catch (e) {
      throw fail((e as FormatError).message);
    }
    const perKem = new Map<number, number>();
    for (const c of configs) {
      const n = (perKem.get(c.kem) ?? 0) + 1;
      if (n > maxConfigsPerKEM) throw fail("unusable: too many keys of one KEM");
      perKem.set(c.kem, n);
    }
    const key = selectKey(configs, this.o.postQuantum);
    if (!key) throw fail("unusable: no supported key");
    this.#key = key;
    this.#expires = this.o.now() + keysMaxAge(resp.headers.get("cache-control") ?? "");
    return key;
  }
}

/** selectKey prefers X-Wing when postQuantum is set and offered, else
 * X25519, else the first supported; with the default suite (HKDF-SHA256,
 * AES-128-GCM) when listed, else the first supported suite. */
export function selectKey(configs: KeyConfig[], postQuantum: boolean): Key | undefined {
  const prefs = postQuantum ? [KEM_XWING, KEM_X25519] : [KEM_X25519];
  const pick = (c: KeyConfig): Suite | undefined =>
    c.suites.find((s) => s.kdf === 1 && s.aead === 1) ?? c.suites.find(suiteSupported);
  for (const kem of prefs) {
    for (const c of configs) {
      const s = c.kem === kem ? pick(c) : undefined;
      if (s) return { config: c, suite: s };
    }
  }
  for (const c of configs) {
    const s = pick(c);
    if (s) return { config: c, suite: s };
  }
  return undefined;
}

/** keysMaxAge reads max-age from Cache-Control, clamped to [1 min, 1 day];
 * an hour when absent. */
export function keysMaxAge(cc: string): number {
  let age = defaultKeysAgeMs;
  for (const d of cc.split(",")) {
    const [name, val] = d.trim().split("=", 2) as [string, string | undefined];
    const n = name.toLowerCase();
    if (n === "max-age" && val !== undefined && /^"?\d+"?$/.test(val)) age = Number(val.replaceAll('"', "")) * 1000;
    if (n === "no-store" || n === "no-cache") age = 0;
  }
  return Math.min(Math.max(age, minKeysAgeMs), maxKeysAgeMs);
}

/** parseRetryAfter reads delay-seconds or an HTTP-date (RFC 9110
 * §10.2.3), in milliseconds; 0 when absent or unusable. */
export function parseRetryAfter(v: string | null, now: number): number {
  const s = (v ?? "").trim();
  if (s === "") return 0;
  if (/^\d+$/.test(s)) return Math.min(Number(s), 2 ** 32) * 1000;
  const t = Date.parse(s);
  return Number.isFinite(t) && t > now ? t - now : 0;
}
