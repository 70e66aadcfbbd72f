// hpke.ts and the X-Wing entry against @hpke/core and
// @hpke/hybridkem-x-wing: requests sealed here open there, for both KEMs
// and every suite the client supports, and their responses open here.
import assert from "node:assert/strict";
import { test } from "node:test";
import "../../src/xwing.js";
import { parseKeyConfigs, sealRequest } from "../../src/ohttp.js";
import { hex } from "./testdata.js";
import { keysDocument, makeKey, openRequest } from "./gateway.js";

for (const kem of [0x0020, 0x647a]) {
  for (const [kdf, aead] of [[1, 1], [2, 2], [3, 1], [1, 2]] as [number, number][]) {
    test(`seal to KEM ${kem.toString(16)}, KDF ${kdf}, AEAD ${aead}; @hpke/core opens it`, async () => {
      const key = await makeKey(7, kem, [[kdf, aead]]);
      const [cfg] = parseKeyConfigs(keysDocument([key]));
      assert.equal(hex(cfg!.publicKey), hex(key.publicKey));
      const msg = crypto.getRandomValues(new Uint8Array(300));
      const sealed = await sealRequest(cfg!, { kdf, aead }, msg);
      const opened = await openRequest([key], sealed.body);
      assert.ok(opened);
      assert.equal(hex(opened.raw), hex(msg));
      const answer = crypto.getRandomValues(new Uint8Array(50));
      assert.equal(hex(await sealed.open(await opened.reply(answer))), hex(answer));
    });
  }
}

test("each seal is fresh: two seals of one message differ", async () => {
  const key = await makeKey(1, 0x20);
  const [cfg] = parseKeyConfigs(keysDocument([key]));
  const m = new Uint8Array(10);
  const a = await sealRequest(cfg!, { kdf: 1, aead: 1 }, m);
  const b = await sealRequest(cfg!, { kdf: 1, aead: 1 }, m);
  assert.notEqual(hex(a.body), hex(b.body));
});

test("unknown KEMs are skipped, malformed documents refused", () => {
  const doc = new Uint8Array([0, 7, 1, 0x12, 0x34, 0xaa, 0xbb, 0xcc, 0xdd]);
  assert.deepEqual(parseKeyConfigs(doc), []);
  assert.throws(() => parseKeyConfigs(new Uint8Array([0, 9, 1])));
  assert.throws(() => parseKeyConfigs(new Uint8Array(0)));
});
