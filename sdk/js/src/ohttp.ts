// Oblivious HTTP (RFC 9458): the client's half. Key configurations (§3),
// request encapsulation (§4.3) and response decapsulation (§4.4), on the
// HPKE of hpke.ts. KEMs come from a registry: X25519 (WebCrypto) is always
// there; the "xwing" entry point adds X-Wing, so that pages that do not
// want it do not download it. No I/O, nothing logged.

import { FormatError, Reader, concat, u8, utf8 } from "./bytes.js";
import { aeadNk, expand, extract, kdfHash, sealBase, x25519, type Ephemeral, type Kem } from "./hpke.js";

export const requestMediaType = "message/ohttp-req";
export const responseMediaType = "message/ohttp-res";
export const keysMediaType = "application/ohttp-keys";
export const KEM_X25519 = 0x0020;
export const KEM_XWING = 0x647a;

const kems = new Map<number, Kem>([[KEM_X25519, x25519]]);

/** registerKem adds a KEM (the xwing entry point registers X-Wing). */
export function registerKem(k: Kem): void {
  kems.set(k.id, k);
}

export interface Suite {
  kdf: number;
  aead: number;
}

/** A parsed key configuration (RFC 9458 §3). */
export interface KeyConfig {
  keyId: number;
  kem: number;
  publicKey: Uint8Array;
  suites: Suite[];
}

//	Key Config {
//	  Key Identifier (8),
//	  HPKE KEM ID (16),
//	  HPKE Public Key (Npk * 8),
//	  HPKE Symmetric Algorithms Length (16) = 4..65532,
//	  HPKE Symmetric Algorithms (32) ...,   // KDF ID (16), AEAD ID (16)
//	}
//
// application/ohttp-keys is a sequence of configurations, each preceded by
// its length (16). Configurations of a KEM this client does not know are
// skipped (their length says where they end); anything malformed refuses
// the whole document (§3.2).

/** parseKeyConfigs parses an application/ohttp-keys document into the
 * configurations of the KEMs this client has. */
export function parseKeyConfigs(b: Uint8Array): KeyConfig[] {
  const what = "key config";
  if (b.length === 0) throw new FormatError(what);
  const r = new Reader(b);
  const out: KeyConfig[] = [];
  while (r.remaining > 0) {
    const one = new Reader(r.bytes(r.u16(what), what));
    const keyId = one.u8(what);
    const kem = kems.get(one.u16(what));
    if (!kem) continue;
    const publicKey = one.bytes(kem.publicKeySize, what).slice();
    const n = one.u16(what);
    if (n < 4 || n % 4 !== 0 || n !== one.remaining) throw new FormatError(what);
    const suites: Suite[] = [];
    while (one.remaining > 0) suites.push({ kdf: one.u16(what), aead: one.u16(what) });
    out.push({ keyId, kem: kem.id, publicKey, suites });
  }
  return out;
}

export function suiteSupported(s: Suite): boolean {
  return s.kdf in kdfHash && s.aead in aeadNk;
}

/** A sealed request, and the opener of its response. */
export interface Sealed {
  body: Uint8Array;
  open(encapsulatedResponse: Uint8Array): Promise<Uint8Array>;
}

//	Encapsulated Request {
//	  Key Identifier (8), HPKE KEM ID (16), HPKE KDF ID (16), HPKE AEAD ID (16),
//	  Encapsulated KEM Shared Secret (8 * Nenc),
//	  HPKE-Protected Request (..),
//	}
//
// info = "message/bhttp request" || 0x00 || the four header fields (§4.3).
//
//	Encapsulated Response {
//	  Nonce (8 * max(Nn, Nk)),
//	  AEAD-Protected Response (..),
//	}
//
// secret = Export("message/bhttp response", max(Nn, Nk));
// prk = Extract(enc || nonce, secret);
// key = Expand(prk, "key", Nk); nonce = Expand(prk, "nonce", Nn)   (§4.4)

/** sealRequest encapsulates a Binary HTTP request to cfg with suite s.
 * eph fixes the ephemeral key (tests only). */
export async function sealRequest(cfg: KeyConfig, s: Suite, request: Uint8Array, eph?: Ephemeral): Promise<Sealed> {
  const kem = kems.get(cfg.kem);
  if (!kem || !suiteSupported(s)) throw new FormatError("suite");
  const hdr = new Uint8Array([cfg.keyId, cfg.kem >> 8, cfg.kem & 0xff, s.kdf >> 8, s.kdf & 0xff, s.aead >> 8, s.aead & 0xff]);
  const sent = await sealBase(kem, s.kdf, s.aead, cfg.publicKey, concat(utf8.encode("message/bhttp request\0"), hdr), request, eph);
  const [hash, nh] = kdfHash[s.kdf]!;
  const nk = aeadNk[s.aead]!;
  const secretLen = Math.max(12, nk);
  return {
    body: concat(hdr, sent.enc, sent.ct),
    async open(res) {
      if (res.length < secretLen + 16) throw new DecryptError();
      const secret = await sent.exportSecret(utf8.encode("message/bhttp response"), secretLen);
      const prk = await extract(hash, nh, concat(sent.enc, res.subarray(0, secretLen)), secret);
      const key = await crypto.subtle.importKey("raw", u8(await expand(hash, prk, utf8.encode("key"), nk)), { name: "AES-GCM" }, false, ["decrypt"]);
      const iv = await expand(hash, prk, utf8.encode("nonce"), 12);
      try {
        return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: u8(iv) }, key, u8(res.subarray(secretLen))));
      } catch {
        throw new DecryptError();
      }
    },
  };
}

/** DecryptError: an encapsulated response did not open. It does not say
 * which check failed. */
export class DecryptError extends Error {
  constructor() {
    super("veil: response did not decrypt");
  }
}
