// Binary HTTP (RFC 9292): the client's half. Requests are encoded in the
// conservative form only (known-length, untruncated, then zero padding);
// responses are decoded in every valid form: known-length or
// indeterminate-length framing, informational responses, truncation and
// padding (§3.8). No I/O, nothing logged.

import { FormatError, Reader, concat, decodeUTF8, utf8, varint } from "./bytes.js";

/** A header or trailer field. Names are lowercase on the wire. */
export interface Field {
  name: string;
  value: string;
}

export interface Request {
  method: string;
  scheme: string;
  authority: string;
  path: string;
  headers: Field[];
  content: Uint8Array;
}

export interface Response {
  status: number;
  headers: Field[];
  content: Uint8Array;
  trailers: Field[];
  /** informational (1xx) responses that came before, in order */
  informational: { status: number; headers: Field[] }[];
}

// Framing indicators (§3.3).
const W = "binary http";
const knownLengthRequest = 0;
const knownLengthResponse = 1;
const indeterminateRequest = 2;
const indeterminateResponse = 3;

/** Limits of the decoder: everything it allocates is bounded by the input,
 * and these bound what a hostile gateway answer can make it hold. */
export const maxFields = 256;

//	Known-Length Request {
//	  Framing Indicator (i) = 0,
//	  Request Control Data (..),      // method, scheme, authority, path
//	  Known-Length Field Section (..),
//	  Known-Length Content (..),
//	  Known-Length Field Section (..), // trailers, empty here
//	  Padding (..),
//	}

/** encodeRequest encodes r as a known-length, untruncated Binary HTTP
 * request, then pads it with zeros to padTo bytes when padTo is larger. */
export function encodeRequest(r: Request, padTo = 0): Uint8Array {
  const parts: Uint8Array[] = [varint(knownLengthRequest)];
  const v = (b: Uint8Array) => parts.push(varint(b.length), b);
  for (const s of [r.method, r.scheme, r.authority, r.path]) v(utf8.encode(s));
  // Known-Length Field Section: Length (i), then each Field Line as
  // Name Length (i), Name, Value Length (i), Value.
  const fields: Uint8Array[] = [];
  for (const f of r.headers) {
    for (const s of [f.name.toLowerCase(), f.value]) {
      const b = utf8.encode(s);
      fields.push(varint(b.length), b);
    }
  }
  v(concat(...fields));
  v(r.content);
  parts.push(varint(0)); // no trailers
  const m = concat(...parts);
  if (padTo <= m.length) return m;
  const out = new Uint8Array(padTo);
  out.set(m);
  return out;
}

//	Known-Length Response {
//	  Framing Indicator (i) = 1,
//	  Known-Length Informational Response (..) ...,
//	  Final Response Control Data (i),   // status 200..599
//	  Known-Length Field Section (..),
//	  Known-Length Content (..),
//	  Known-Length Field Section (..),
//	  Padding (..),
//	}
//
//	Indeterminate-Length Response {
//	  Framing Indicator (i) = 3,
//	  Indeterminate-Length Informational Response (..) ...,
//	  Final Response Control Data (i),
//	  Indeterminate-Length Field Section (..), // lines, then Content Terminator (i) = 0
//	  Indeterminate-Length Content (..),       // chunks (i)+(..), then a zero-length chunk
//	  Indeterminate-Length Field Section (..),
//	  Padding (..),
//	}
//
// A message may be truncated (§3.8) after its final control data, its
// header section or its content: what is missing is empty. Whatever follows
// the last section must be zero padding.

/** decodeResponse decodes a Binary HTTP response in any valid form. It
 * throws FormatError for anything else, a request included. */
export function decodeResponse(b: Uint8Array): Response {
  const r = new Reader(b);
  const framing = r.varint(W);
  if (framing === knownLengthRequest || framing === indeterminateRequest) {
    throw new FormatError(W);
  }
  if (framing !== knownLengthResponse && framing !== indeterminateResponse) {
    throw new FormatError(W);
  }
  const known = framing === knownLengthResponse;
  const readFields = known ? readKnownFields : readIndeterminateFields;
  const resp: Response = { status: 0, headers: [], content: new Uint8Array(0), trailers: [], informational: [] };
  for (;;) {
    const status = r.varint(W);
    if (status < 100 || status > 599) throw new FormatError(W);
    if (status >= 200) {
      resp.status = status;
      break;
    }
    if (resp.informational.length >= maxFields) throw new FormatError(W);
    // An informational response has a field section but no truncation.
    resp.informational.push({ status, headers: readFields(r, W, false) });
  }
  if (r.remaining === 0) return resp;
  resp.headers = readFields(r, W, true);
  if (r.remaining === 0) return resp;
  resp.content = known ? r.vbytes(W) : readChunks(r);
  if (r.remaining === 0) return resp;
  resp.trailers = readFields(r, W, true);
  for (const z of r.rest()) {
    if (z !== 0) throw new FormatError(W);
  }
  return resp;
}

function readKnownFields(r: Reader, what: string, _mayTruncate?: boolean): Field[] {
  const section = new Reader(r.vbytes(what));
  const out: Field[] = [];
  while (section.remaining > 0) {
    if (out.length >= maxFields) throw new FormatError(what);
    out.push(readFieldLine(section, what));
  }
  return out;
}

function readIndeterminateFields(r: Reader, what: string, mayTruncate: boolean): Field[] {
  const out: Field[] = [];
  for (;;) {
    // A truncated message may end where the terminator would be.
    if (mayTruncate && r.remaining === 0) return out;
    const nameLen = r.varint(what);
    if (nameLen === 0) return out;
    if (out.length >= maxFields) throw new FormatError(what);
    const name = decodeUTF8(r.bytes(nameLen, what), what);
    const value = decodeUTF8(r.vbytes(what), what);
    out.push(checkField(name, value, what));
  }
}

function readFieldLine(r: Reader, what: string): Field {
  const nameBytes = r.vbytes(what);
  if (nameBytes.length === 0) throw new FormatError(what);
  const name = decodeUTF8(nameBytes, what);
  const value = decodeUTF8(r.vbytes(what), what);
  return checkField(name, value, what);
}

// checkField refuses what no HTTP field may hold: an uppercase or
// non-token name (§3.5 requires lowercase), and CR, LF or NUL in a value.
function checkField(name: string, value: string, what: string): Field {
  if (!/^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(name) || /[\r\n\0]/.test(value)) {
    throw new FormatError(what);
  }
  return { name, value };
}

function readChunks(r: Reader): Uint8Array {
  const parts: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    if (r.remaining === 0) break; // truncated after the content
    const chunk = r.vbytes(W);
    if (chunk.length === 0) break;
    parts.push(chunk);
    n += chunk.length;
  }
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** field returns the value of the first field named name, or "". */
export function field(fs: Field[], name: string): string {
  for (const f of fs) if (f.name === name) return f.value;
  return "";
}
