// Byte helpers shared by the wire codecs: a bounds-checked reader and a
// growable writer. Every read checks what remains before it slices.

/** A FormatError reports bytes that do not parse. Its message names the
 * field that failed, never any content. */
export class FormatError extends Error {
  constructor(what: string) {
    super(`veil: malformed ${what}`);
    this.name = "FormatError";
  }
}

export const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

export function decodeUTF8(b: Uint8Array, what: string): string {
  try {
    return utf8Strict.decode(b);
  } catch {
    throw new FormatError(what);
  }
}

/** Reader reads big-endian integers and QUIC varints (RFC 9000 §16). */
export class Reader {
  private i = 0;
  constructor(private readonly b: Uint8Array) {}

  get remaining(): number {
    return this.b.length - this.i;
  }

  u8(what: string): number {
    if (this.remaining < 1) throw new FormatError(what);
    return this.b[this.i++]!;
  }

  u16(what: string): number {
    if (this.remaining < 2) throw new FormatError(what);
    const v = (this.b[this.i]! << 8) | this.b[this.i + 1]!;
    this.i += 2;
    return v;
  }

  u32(what: string): number {
    if (this.remaining < 4) throw new FormatError(what);
    const v = ((this.b[this.i]! << 24) >>> 0) + ((this.b[this.i + 1]! << 16) | (this.b[this.i + 2]! << 8) | this.b[this.i + 3]!);
    this.i += 4;
    return v;
  }

  /** varint reads a variable-length integer. Values above 2^53 cannot be a
   * length of anything in memory and are refused. */
  varint(what: string): number {
    if (this.remaining < 1) throw new FormatError(what);
    const first = this.b[this.i]!;
    const n = 1 << (first >> 6);
    if (this.remaining < n) throw new FormatError(what);
    let v = first & 0x3f;
    for (let k = 1; k < n; k++) {
      v = v * 256 + this.b[this.i + k]!;
    }
    if (!Number.isSafeInteger(v)) throw new FormatError(what);
    this.i += n;
    return v;
  }

  /** bytes returns a view of the next n bytes (not a copy). */
  bytes(n: number, what: string): Uint8Array {
    if (n < 0 || n > this.remaining) throw new FormatError(what);
    const v = this.b.subarray(this.i, this.i + n);
    this.i += n;
    return v;
  }

  /** vbytes reads a varint length, then that many bytes. */
  vbytes(what: string): Uint8Array {
    return this.bytes(this.varint(what), what);
  }

  /** rest returns every byte left. */
  rest(): Uint8Array {
    const v = this.b.subarray(this.i);
    this.i = this.b.length;
    return v;
  }
}

/** varint encodes a QUIC variable-length integer in its shortest form. */
export function varint(v: number): Uint8Array {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError("veil: varint");
  if (v < 0x40) return new Uint8Array([v]);
  if (v < 0x4000) return new Uint8Array([0x40 | (v >> 8), v & 0xff]);
  if (v < 0x40000000) return new Uint8Array([0x80 | (v >>> 24), (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]);
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(v));
  out[0]! |= 0xc0;
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/** base64url encodes without padding (RFC 4648 §5). */
export function base64url(b: Uint8Array): string {
  return btoa(String.fromCharCode(...b)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** fromBase64url decodes unpadded base64url strictly: a text that does not
 * encode back to itself (padding, the standard alphabet, stray bits in
 * the last character) gives undefined, so each byte string has one text. */
export function fromBase64url(s: string): Uint8Array | undefined {
  let b: Uint8Array;
  try {
    b = Uint8Array.from(atob(s.replaceAll("-", "+").replaceAll("_", "/")), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
  return base64url(b) === s ? b : undefined;
}

/** u8 copies any buffer source into a fresh Uint8Array whose buffer is a
 * plain ArrayBuffer, as WebCrypto wants. */
export function u8(b: ArrayBuffer | ArrayBufferView): Uint8Array<ArrayBuffer> {
  if (b instanceof ArrayBuffer) return new Uint8Array(b.slice(0));
  return new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
}
