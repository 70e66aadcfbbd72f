// The signed key document (ohttp/signedkeys) and the key pin.
import assert from "node:assert/strict";
import { test } from "node:test";
import { base64url, concat, u8 } from "../../src/bytes.js";
import { parsePin, verifySigned, NotAuthenticatedError } from "../../src/signedkeys.js";

async function signer() {
  const kp = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const pub = new Uint8Array(await crypto.subtle.exportKey("raw", kp.publicKey));
  return { kp, pub, pin: "veil-pin-ed25519:" + base64url(pub) };
}

async function signedDoc(keys: Uint8Array, signers: { kp: CryptoKeyPair; pub: Uint8Array }[]): Promise<Uint8Array> {
  const msg = concat(new TextEncoder().encode("veil signed ohttp-keys v1\0"), keys);
  const parts: Uint8Array[] = [new Uint8Array([1, 0, 0, keys.length >> 8, keys.length & 255]), keys, new Uint8Array([signers.length])];
  for (const s of signers) {
    const sig = new Uint8Array(await crypto.subtle.sign("Ed25519", s.kp.privateKey, u8(msg)));
    parts.push(new Uint8Array([8, 7, 0, 32]), s.pub, new Uint8Array([0, 64]), sig);
  }
  return concat(...parts);
}

test("a document signed by the pinned key verifies, and only its key document is returned", async () => {
  const a = await signer();
  const b = await signer();
  const keys = new Uint8Array([0, 3, 9, 9, 9]);
  const doc = await signedDoc(keys, [b, a]);
  assert.deepEqual(await verifySigned(doc, parsePin(a.pin)), keys);
  assert.deepEqual(await verifySigned(doc, parsePin(b.pin)), keys);
  const c = await signer();
  await assert.rejects(verifySigned(doc, parsePin(c.pin)), NotAuthenticatedError);
  const tampered = doc.slice();
  tampered[6]! ^= 1; // a key document byte
  await assert.rejects(verifySigned(tampered, parsePin(a.pin)), /does not verify/);
  await assert.rejects(verifySigned(concat(doc, new Uint8Array([0])), parsePin(a.pin)), /malformed/);
  await assert.rejects(verifySigned(doc.subarray(0, doc.length - 1), parsePin(a.pin)), /malformed/);
  await assert.rejects(verifySigned(await signedDoc(keys, [a, a]), parsePin(a.pin)), /malformed/);
});

test("pins parse strictly", async () => {
  const { pin, pub } = await signer();
  assert.deepEqual(parsePin(pin), pub);
  for (const bad of [pin + "=", " " + pin, pin.slice(0, -1), pin.replace("veil-pin-ed25519:", "veil-pin:"), "veil-pin-ed25519:" + "+".repeat(43)]) {
    assert.throws(() => parsePin(bad), /keyPin/, bad);
  }
  // The last character's unused bits must be zero: one text per key.
  const zero = "veil-pin-ed25519:" + "A".repeat(43);
  assert.equal(parsePin(zero).length, 32);
  assert.throws(() => parsePin(zero.slice(0, -1) + "B"), /keyPin/);
});
