// HPKE (RFC 9180) base mode, sender side, one message: what Oblivious
// HTTP needs and nothing more, on WebCrypto. DHKEM(X25519, HKDF-SHA256)
// is here; other KEMs (X-Wing) plug in through Kem and supply only the
// encapsulation, the key schedule being common. Checked against RFC 9458
// Appendix A and against @hpke/core in the tests.

import { concat, u8, utf8 } from "./bytes.js";

/** A KEM: Encap(pkR) → (shared_secret, enc) (RFC 9180 §4). */
export interface Kem {
  id: number;
  /** Npk */
  publicKeySize: number;
  encap(pkR: Uint8Array, ephemeral?: Ephemeral): Promise<{ sharedSecret: Uint8Array; enc: Uint8Array }>;
}

/** Test hook: a fixed ephemeral private key (raw bytes). */
export interface Ephemeral {
  sk: Uint8Array;
}

export const kdfHash: Record<number, [string, number]> = { 1: ["SHA-256", 32], 2: ["SHA-384", 48], 3: ["SHA-512", 64] };
/** AEAD id → Nk (all AES-GCM, Nn = 12) */
export const aeadNk: Record<number, number> = { 1: 16, 2: 32 };

const subtle = () => crypto.subtle;
const i2osp2 = (v: number) => new Uint8Array([v >> 8, v & 0xff]);
const hpkeV1 = utf8.encode("HPKE-v1");

async function hmac(hash: string, key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await subtle().importKey("raw", u8(key), { name: "HMAC", hash }, false, ["sign"]);
  return new Uint8Array(await subtle().sign("HMAC", k, u8(data)));
}

/** HKDF-Extract (RFC 5869 §2.2); an empty salt is Nh zeros. */
export function extract(hash: string, nh: number, salt: Uint8Array, ikm: Uint8Array): Promise<Uint8Array> {
  return hmac(hash, salt.length ? salt : new Uint8Array(nh), ikm);
}

/** HKDF-Expand (RFC 5869 §2.3). */
export async function expand(hash: string, prk: Uint8Array, info: Uint8Array, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let t: Uint8Array = new Uint8Array(0);
  for (let i = 1, off = 0; off < n; i++, off += t.length) {
    t = await hmac(hash, prk, concat(t, info, new Uint8Array([i])));
    out.set(t.subarray(0, Math.min(t.length, n - off)), off);
  }
  return out;
}

/** Labeled HKDF for one suite_id (RFC 9180 §4). */
function labeled(hash: string, nh: number, suiteId: Uint8Array) {
  return {
    extract: (salt: Uint8Array, label: string, ikm: Uint8Array) => extract(hash, nh, salt, concat(hpkeV1, suiteId, utf8.encode(label), ikm)),
    expand: (prk: Uint8Array, label: string, info: Uint8Array, n: number) =>
      expand(hash, prk, concat(i2osp2(n), hpkeV1, suiteId, utf8.encode(label), info), n),
  };
}

/** x25519Pair makes an ephemeral X25519 key (or imports the raw scalar
 * sk, for tests) and returns X25519(sk, peer) and its public key. */
export async function x25519Pair(peer: Uint8Array, sk?: Uint8Array): Promise<{ dh: Uint8Array; pub: Uint8Array }> {
  const alg = { name: "X25519" };
  let priv: CryptoKey;
  let pub: Uint8Array;
  if (sk) {
    // PKCS #8 wrapping of a raw X25519 private key (RFC 8410).
    const pkcs8 = concat(new Uint8Array([0x30, 0x2e, 2, 1, 0, 0x30, 5, 6, 3, 0x2b, 0x65, 0x6e, 4, 0x22, 4, 0x20]), sk);
    priv = await subtle().importKey("pkcs8", u8(pkcs8), alg, false, ["deriveBits"]);
    const base = new Uint8Array(32);
    base[0] = 9;
    pub = await derive(priv, base);
  } else {
    const kp = (await subtle().generateKey(alg, true, ["deriveBits"])) as CryptoKeyPair;
    priv = kp.privateKey;
    pub = new Uint8Array(await subtle().exportKey("raw", kp.publicKey));
  }
  return { dh: await derive(priv, peer), pub };
}

async function derive(priv: CryptoKey, peer: Uint8Array): Promise<Uint8Array> {
  const p = await subtle().importKey("raw", u8(peer), { name: "X25519" }, false, []);
  return new Uint8Array(await subtle().deriveBits({ name: "X25519", public: p } as unknown as AlgorithmIdentifier, priv, 256));
}

/** DHKEM(X25519, HKDF-SHA256), KEM 0x0020 (RFC 9180 §4.1, §7.1). */
export const x25519: Kem = {
  id: 0x0020,
  publicKeySize: 32,
  async encap(pkR, eph) {
    const { dh, pub: enc } = await x25519Pair(pkR, eph?.sk);
    const l = labeled("SHA-256", 32, concat(utf8.encode("KEM"), i2osp2(0x0020)));
    const prk = await l.extract(new Uint8Array(0), "eae_prk", dh);
    return { sharedSecret: await l.expand(prk, "shared_secret", concat(enc, pkR), 32), enc };
  },
};

/** A sender context after one Seal: the ciphertext, enc, and Export. */
export interface Sent {
  enc: Uint8Array;
  ct: Uint8Array;
  exportSecret(context: Uint8Array, n: number): Promise<Uint8Array>;
}

/** sealBase is SetupBaseS followed by one Seal with empty aad (RFC 9180
 * §5.1, §5.2). The caller has checked that kdf and aead are supported. */
export async function sealBase(kem: Kem, kdf: number, aead: number, pkR: Uint8Array, info: Uint8Array, pt: Uint8Array, eph?: Ephemeral): Promise<Sent> {
  const { sharedSecret, enc } = await kem.encap(pkR, eph);
  const [hash, nh] = kdfHash[kdf]!;
  const nk = aeadNk[aead]!;
  const l = labeled(hash, nh, concat(utf8.encode("HPKE"), i2osp2(kem.id), i2osp2(kdf), i2osp2(aead)));
  const none = new Uint8Array(0);
  const ctx = concat(new Uint8Array([0]), await l.extract(none, "psk_id_hash", none), await l.extract(none, "info_hash", info));
  const secret = await l.extract(sharedSecret, "secret", none);
  const key = await l.expand(secret, "key", ctx, nk);
  const nonce = await l.expand(secret, "base_nonce", ctx, 12);
  const exporter = await l.expand(secret, "exp", ctx, nh);
  const k = await subtle().importKey("raw", u8(key), { name: "AES-GCM" }, false, ["encrypt"]);
  const ct = new Uint8Array(await subtle().encrypt({ name: "AES-GCM", iv: u8(nonce) }, k, u8(pt)));
  return { enc, ct, exportSecret: (c, n) => l.expand(exporter, "sec", c, n) };
}
