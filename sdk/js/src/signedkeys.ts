// veil's signed key document and key pin (docs/key-pin.md,
// ohttp/signedkeys): the gateway's application/ohttp-keys bytes with
// Ed25519 signatures over them, checked against a pin the app ships, so a
// relay cannot hand out keys of its own. Verification uses WebCrypto's
// Ed25519. No I/O, nothing logged.

import { FormatError, Reader, concat, fromBase64url, u8, utf8 } from "./bytes.js";

export const signedKeysMediaType = "application/vnd.veil.signed-ohttp-keys";
export const pinPrefix = "veil-pin-ed25519:";
const S = "signed key document";
const schemeEd25519 = 0x0807;
const version = 1;
const maxKeyDocumentLength = 64 << 10;
const maxSignatures = 4;
const maxPublicKeyLength = 4096;
const maxSignatureLength = 8192;
export const maxSignedLength = 1 + 4 + maxKeyDocumentLength + 1 + maxSignatures * (2 + 2 + maxPublicKeyLength + 2 + maxSignatureLength);
const signingContext = utf8.encode("veil signed ohttp-keys v1\0");

/** parsePin parses a pin's text form strictly: the prefix and exactly 43
 * canonical base64url characters. It returns the 32-byte public key. */
export function parsePin(s: string): Uint8Array {
  if (!s.startsWith(pinPrefix) || s.length !== pinPrefix.length + 43) {
    throw new PinError(`a key pin is "${pinPrefix}" and 43 base64url characters`);
  }
  const k = fromBase64url(s.slice(pinPrefix.length));
  if (!k || k.length !== 32) throw new PinError("a key pin holds a 32-byte key in unpadded base64url");
  return k;
}

export class PinError extends Error {
  constructor(msg: string) {
    super(`veil: invalid keyPin: ${msg}`);
    this.name = "PinError";
  }
}

/** NotAuthenticatedError: the key document is not signed by the pinned
 * key (or the signature does not verify). Nothing of it is used. */
export class NotAuthenticatedError extends Error {
  constructor(why: string) {
    super(`veil: key document not authenticated: ${why}`);
    this.name = "NotAuthenticatedError";
  }
}

interface Signature {
  scheme: number;
  publicKey: Uint8Array;
  signature: Uint8Array;
}

//	Signed Key Document {
//	  Version (8) = 1,
//	  Key Document Length (32) = 1..65536,
//	  Key Document (..),
//	  Signature Count (8) = 1..4,
//	  Key Signature {
//	    Signature Scheme (16), Public Key Length (16), Public Key (..),
//	    Signature Length (16), Signature (..),
//	  } ...,
//	}

function parseSigned(b: Uint8Array): { keys: Uint8Array; signatures: Signature[] } {
  if (b.length > maxSignedLength) throw new FormatError(S);
  const r = new Reader(b);
  if (r.u8(S) !== version) throw new FormatError(S);
  const n = r.u32(S);
  if (n === 0 || n > maxKeyDocumentLength) throw new FormatError(S);
  const keys = r.bytes(n, S);
  const count = r.u8(S);
  if (count === 0 || count > maxSignatures) throw new FormatError(S);
  const signatures: Signature[] = [];
  for (let i = 0; i < count; i++) {
    const scheme = r.u16(S);
    const pl = r.u16(S);
    if (pl === 0 || pl > maxPublicKeyLength) throw new FormatError(S);
    const publicKey = r.bytes(pl, S);
    const sl = r.u16(S);
    if (sl === 0 || sl > maxSignatureLength) throw new FormatError(S);
    const signature = r.bytes(sl, S);
    if (scheme === schemeEd25519 && (pl !== 32 || sl !== 64)) throw new FormatError(S);
    for (const o of signatures) {
      if (o.scheme === scheme && sameBytes(o.publicKey, publicKey)) throw new FormatError(S);
    }
    signatures.push({ scheme, publicKey, signature });
  }
  if (r.remaining !== 0) throw new FormatError(S);
  return { keys, signatures };
}

/** verifySigned parses a signed key document and checks that the pinned
 * key signed it. It returns a copy of the application/ohttp-keys bytes the
 * signature covers, the only bytes a client may use. */
export async function verifySigned(b: Uint8Array, pin: Uint8Array): Promise<Uint8Array> {
  let doc;
  try {
    doc = parseSigned(b);
  } catch (e) {
    throw new NotAuthenticatedError(`malformed signed document (${(e as Error).message})`);
  }
  for (const s of doc.signatures) {
    if (s.scheme !== schemeEd25519 || !sameBytes(s.publicKey, pin)) continue;
    const key = await crypto.subtle.importKey("raw", u8(pin), { name: "Ed25519" }, false, ["verify"]);
    const ok = await crypto.subtle.verify({ name: "Ed25519" }, key, u8(s.signature), u8(concat(signingContext, doc.keys)));
    if (!ok) throw new NotAuthenticatedError("the pinned key's signature does not verify");
    return doc.keys.slice();
  }
  throw new NotAuthenticatedError("no signature by the pinned key");
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
