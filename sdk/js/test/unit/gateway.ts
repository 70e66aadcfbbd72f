// A gateway for tests: the server half of RFC 9458 on @hpke/core (an
// independent HPKE implementation, so it also cross-checks hpke.ts), and a
// Binary HTTP request decoder and response encoder of its own.
import { Aes128Gcm, Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256, HkdfSha384, HkdfSha512 } from "@hpke/core";
import { XWing } from "@hpke/hybridkem-x-wing";
import { Reader, concat, u8, utf8, varint } from "../../src/bytes.js";
import { expand, extract, kdfHash } from "../../src/hpke.js";
import type { Field } from "../../src/bhttp.js";

export const kdfs = { 1: () => new HkdfSha256(), 2: () => new HkdfSha384(), 3: () => new HkdfSha512() } as Record<number, () => HkdfSha256>;
export const aeads = { 1: () => new Aes128Gcm(), 2: () => new Aes256Gcm() } as Record<number, () => Aes128Gcm>;

export interface GatewayKey {
  keyId: number;
  kem: number;
  publicKey: Uint8Array;
  keyPair: CryptoKeyPair;
  suites: [number, number][];
}

export async function makeKey(keyId: number, kem: number, suites: [number, number][] = [[1, 1]]): Promise<GatewayKey> {
  const k = kem === 0x20 ? new DhkemX25519HkdfSha256() : new XWing();
  const keyPair = await k.generateKeyPair();
  const publicKey = new Uint8Array(await k.serializePublicKey(keyPair.publicKey));
  return { keyId, kem, publicKey, keyPair, suites };
}

/** keysDocument encodes application/ohttp-keys. */
export function keysDocument(keys: GatewayKey[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const k of keys) {
    const algs = concat(...k.suites.map(([kdf, aead]) => new Uint8Array([kdf >> 8, kdf & 255, aead >> 8, aead & 255])));
    const cfg = concat(new Uint8Array([k.keyId, k.kem >> 8, k.kem & 255]), k.publicKey, new Uint8Array([algs.length >> 8, algs.length & 255]), algs);
    parts.push(new Uint8Array([cfg.length >> 8, cfg.length & 255]), cfg);
  }
  return concat(...parts);
}

export interface InnerRequest {
  method: string;
  path: string;
  headers: Field[];
  content: Uint8Array;
}

/** open decapsulates a request; reply seals a response to it. */
export async function openRequest(keys: GatewayKey[], body: Uint8Array): Promise<{ req: InnerRequest; raw: Uint8Array; reply(inner: Uint8Array): Promise<Uint8Array> } | undefined> {
  const r = new Reader(body);
  const keyId = r.u8("k");
  const kem = r.u16("k");
  const kdf = r.u16("k");
  const aead = r.u16("k");
  const key = keys.find((k) => k.keyId === keyId && k.kem === kem);
  if (!key) return undefined;
  const nenc = kem === 0x20 ? 32 : 1120;
  const enc = r.bytes(nenc, "enc").slice();
  const ct = r.rest().slice();
  const cs = new CipherSuite({ kem: kem === 0x20 ? new DhkemX25519HkdfSha256() : new XWing(), kdf: kdfs[kdf]!(), aead: aeads[aead]!() });
  const info = concat(utf8.encode("message/bhttp request\0"), body.subarray(0, 7));
  const rc = await cs.createRecipientContext({ recipientKey: key.keyPair, enc: u8(enc), info: u8(info) });
  const raw = new Uint8Array(await rc.open(u8(ct)));
  const [hash, nh] = kdfHash[kdf]!;
  const nk = aead === 1 ? 16 : 32;
  const n = Math.max(12, nk);
  return {
    raw,
    get req() {
      return decodeRequest(raw);
    },
    async reply(inner) {
      const secret = new Uint8Array(await rc.export(u8(utf8.encode("message/bhttp response")), n));
      const nonce = crypto.getRandomValues(new Uint8Array(n));
      const prk = await extract(hash, nh, concat(enc, nonce), secret);
      const k = await crypto.subtle.importKey("raw", u8(await expand(hash, prk, utf8.encode("key"), nk)), "AES-GCM", false, ["encrypt"]);
      const iv = await expand(hash, prk, utf8.encode("nonce"), 12);
      return concat(nonce, new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv: u8(iv) }, k, u8(inner))));
    },
  };
}

/** decodeRequest decodes a known-length request (all this SDK sends);
 * trailing bytes must be zero padding. */
export function decodeRequest(b: Uint8Array): InnerRequest {
  const r = new Reader(b);
  if (r.varint("f") !== 0) throw new Error("not a known-length request");
  const td = new TextDecoder();
  const method = td.decode(r.vbytes("m"));
  r.vbytes("s");
  r.vbytes("a");
  const path = td.decode(r.vbytes("p"));
  const fr = new Reader(r.vbytes("h"));
  const headers: Field[] = [];
  while (fr.remaining > 0) headers.push({ name: td.decode(fr.vbytes("n")), value: td.decode(fr.vbytes("v")) });
  const content = r.vbytes("c").slice();
  if (r.vbytes("t").length !== 0) throw new Error("trailers");
  if (!r.rest().every((x) => x === 0)) throw new Error("padding");
  return { method, path, headers, content };
}

/** encodeResponse encodes a known-length response. */
export function encodeResponse(status: number, headers: Field[], content: Uint8Array): Uint8Array {
  const f: Uint8Array[] = [];
  for (const h of headers) for (const s of [h.name, h.value]) {
    const b = utf8.encode(s);
    f.push(varint(b.length), b);
  }
  const fs = concat(...f);
  return concat(varint(1), varint(status), varint(fs.length), fs, varint(content.length), content, varint(0));
}
