// RFC 9458 Appendix A and RFC 9292 §5 vectors, byte for byte, from the
// testdata the Go tests use.
import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeResponse, encodeRequest } from "../../src/bhttp.js";
import { FormatError } from "../../src/bytes.js";
import { parseKeyConfigs, sealRequest } from "../../src/ohttp.js";
import { hex, vectors } from "./testdata.js";

const o = vectors("ohttp/testdata/rfc9458-appendix-a.txt");
const b = vectors("bhttp/testdata/vectors.txt");
const dec = new TextDecoder();

test("RFC 9458 A: key configuration list", () => {
  const cfgs = parseKeyConfigs(o.key_configs!);
  assert.equal(cfgs.length, 1);
  assert.equal(cfgs[0]!.keyId, 1);
  assert.equal(cfgs[0]!.kem, 0x20);
  assert.equal(hex(cfgs[0]!.publicKey), hex(o.pkR!));
  assert.deepEqual(cfgs[0]!.suites, [{ kdf: 1, aead: 1 }, { kdf: 1, aead: 3 }]);
});

test("RFC 9458 A: encapsulated request and response", async () => {
  const [cfg] = parseKeyConfigs(o.key_configs!);
  const sealed = await sealRequest(cfg!, { kdf: 1, aead: 1 }, o.request!, { sk: o.skE! });
  assert.equal(hex(sealed.body), hex(o.encapsulated_request!));
  const inner = await sealed.open(o.encapsulated_response!);
  assert.equal(hex(inner), hex(o.response!));
  assert.equal(decodeResponse(inner).status, 200);
  // One flipped bit anywhere fails, with one error.
  for (const i of [0, 16, o.encapsulated_response!.length - 1]) {
    const bad = o.encapsulated_response!.slice();
    bad[i]! ^= 1;
    await assert.rejects(sealed.open(bad), /did not decrypt/);
  }
  await assert.rejects(sealed.open(o.encapsulated_response!.subarray(0, 20)), /did not decrypt/);
});

test("RFC 9458 A: the request, untruncated, is the vector plus empty sections", () => {
  const enc = encodeRequest({ method: "GET", scheme: "https", authority: "example.com", path: "/", headers: [], content: new Uint8Array(0) });
  assert.equal(hex(enc), hex(b["rfc9458-request"]!) + "000000");
  const padded = encodeRequest({ method: "GET", scheme: "https", authority: "example.com", path: "/", headers: [], content: new Uint8Array(0) }, 1024);
  assert.equal(padded.length, 1024);
  assert.equal(hex(padded.subarray(0, enc.length)), hex(enc));
  assert.ok(padded.subarray(enc.length).every((x) => x === 0));
});

test("RFC 9292 §5 Figure 2: known-length request encodes byte for byte", () => {
  const want = b["rfc9292-request-known"]!;
  const got = encodeRequest({
    method: "GET", scheme: "https", authority: "", path: "/hello.txt",
    headers: [
      { name: "user-agent", value: "curl/7.16.3 libcurl/7.16.3 OpenSSL/0.9.7l zlib/1.2.3" },
      { name: "host", value: "www.example.com" },
      { name: "accept-language", value: "en, mi" },
    ],
    content: new Uint8Array(0),
  });
  assert.equal(hex(got), hex(want));
});

test("RFC 9292 §5 Figure 7: known-length response with content and trailer", () => {
  const r = decodeResponse(b["rfc9292-response-known"]!);
  assert.equal(r.status, 200);
  assert.deepEqual(r.headers, []);
  assert.equal(dec.decode(r.content), "This content contains CRLF.\r\n");
  assert.deepEqual(r.trailers, [{ name: "trailer", value: "text" }]);
});

test("RFC 9292 §5 Figure 5: indeterminate-length response with informational responses", () => {
  const r = decodeResponse(b["rfc9292-response-indeterminate"]!);
  assert.deepEqual(r.informational.map((i) => i.status), [102, 103]);
  assert.deepEqual(r.informational[0]!.headers, [{ name: "running", value: '"sleep 15"' }]);
  assert.equal(r.informational[1]!.headers.length, 2);
  assert.equal(r.status, 200);
  assert.equal(r.headers.length, 8);
  assert.equal(r.headers[0]!.name, "date");
  assert.equal(dec.decode(r.content), "Hello World! My content includes a trailing CRLF.\r\n");
  assert.deepEqual(r.trailers, []);
});

test("RFC 9458 A: truncated response", () => {
  const r = decodeResponse(b["rfc9458-response"]!);
  assert.equal(r.status, 200);
  assert.equal(r.content.length, 0);
});

test("padding, truncation, and what is refused", () => {
  const known = b["rfc9292-response-known"]!;
  const padded = new Uint8Array(known.length + 30);
  padded.set(known);
  assert.equal(dec.decode(decodeResponse(padded).content), "This content contains CRLF.\r\n");
  const dirty = padded.slice();
  dirty[dirty.length - 1] = 1;
  assert.throws(() => decodeResponse(dirty), FormatError);
  // Every prefix either decodes or fails with FormatError.
  const ind = b["rfc9292-response-indeterminate"]!;
  for (const m of [known, ind]) {
    for (let i = 0; i < m.length; i++) {
      try {
        decodeResponse(m.subarray(0, i));
      } catch (e) {
        assert.ok(e instanceof FormatError, `prefix ${i}: ${e}`);
      }
    }
  }
  // Requests are not responses.
  assert.throws(() => decodeResponse(b["rfc9292-request-known"]!), FormatError);
  assert.throws(() => decodeResponse(b["rfc9292-request-indeterminate"]!), FormatError);
  // A status out of range, an uppercase field name.
  assert.throws(() => decodeResponse(new Uint8Array([1, 0x40, 99])), FormatError);
  assert.throws(() => decodeResponse(new Uint8Array([1, 0x40, 200, 3, 1, 0x41, 0])), FormatError);
});

test("random input: only FormatError, in time linear in its size", () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  const seeds = Object.values(b);
  for (let n = 0; n < 3000; n++) {
    const base = seeds[n % seeds.length]!;
    const m = base.slice();
    for (let k = 0; k < 1 + (n % 4); k++) m[rnd() % m.length] = rnd();
    for (const f of [decodeResponse, parseKeyConfigs]) {
      try {
        f(m);
      } catch (e) {
        assert.ok(e instanceof FormatError, String(e));
      }
    }
  }
});
