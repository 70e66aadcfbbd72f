// Seal cost per batch in the browser: a 100-event batch padded to its
// bucket, sealed to X25519 and to X-Wing, warm (after a few seals).
import "../../src/xwing.js";
import { encodeRequest } from "../../src/bhttp.js";
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { MlKem768 } from "mlkem";
import { concat } from "../../src/bytes.js";
import { sealRequest, type KeyConfig } from "../../src/ohttp.js";

async function x25519Config(): Promise<KeyConfig> {
  const kp = (await crypto.subtle.generateKey({ name: "X25519" }, true, ["deriveBits"])) as CryptoKeyPair;
  const pk = new Uint8Array(await crypto.subtle.exportKey("raw", kp.publicKey));
  return { keyId: 1, kem: 0x20, publicKey: pk, suites: [{ kdf: 1, aead: 1 }] };
}

export async function sealCost(n: number) {
  const ev = JSON.stringify({ schema: "web.test", version: 1, fields: { case: "throughput", n: 123 } });
  const content = new TextEncoder().encode(`{"batch_id":"AAAAAAAAAAAAAAAAAAAAAA","events":[${Array(100).fill(ev).join(",")}]}`);
  const msg = encodeRequest({ method: "POST", scheme: "https", authority: "veil", path: "/v1/events", headers: [{ name: "content-type", value: "application/json" }], content }, 16384);
  const [pkM] = await new MlKem768().generateKeyPair();
  const x = await x25519Config();
  const xw: KeyConfig = { keyId: 2, kem: 0x647a, publicKey: concat(pkM, x.publicKey), suites: [{ kdf: 1, aead: 1 }] };
  const out: Record<string, number> = {};
  for (const [name, cfg] of [["x25519", await x25519Config()], ["xwing", xw]] as const) {
    const t0 = performance.now();
    await sealRequest(cfg, { kdf: 1, aead: 1 }, msg);
    out[`${name}ColdMs`] = performance.now() - t0;
    for (let i = 0; i < 5; i++) await sealRequest(cfg, { kdf: 1, aead: 1 }, msg);
    const t1 = performance.now();
    for (let i = 0; i < n; i++) await sealRequest(cfg, { kdf: 1, aead: 1 }, msg);
    out[`${name}SealMs`] = (performance.now() - t1) / n;
  }
  // The same seal by @hpke/core (what the prototype measured), for
  // a ratio taken in the same page at the same moment.
  const cs = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });
  const pk = await cs.kem.deserializePublicKey((await x25519Config()).publicKey.buffer as ArrayBuffer);
  const info = new TextEncoder().encode("message/bhttp request\0hdr0000");
  const hpkeSeal = async () => {
    const ctx = await cs.createSenderContext({ recipientPublicKey: pk, info: info.buffer as ArrayBuffer });
    await ctx.seal(msg.buffer as ArrayBuffer);
  };
  for (let i = 0; i < 5; i++) await hpkeSeal();
  const t2 = performance.now();
  for (let i = 0; i < n; i++) await hpkeSeal();
  out.hpkeCoreX25519SealMs = (performance.now() - t2) / n;
  return { ...out, batchBytes: msg.length, seals: n };
}
