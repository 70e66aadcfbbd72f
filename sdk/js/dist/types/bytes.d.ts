/** A FormatError reports bytes that do not parse. Its message names the
 * field that failed, never any content. */
export declare class FormatError extends Error {
    constructor(what: string);
}
export declare const utf8: TextEncoder;
export declare function decodeUTF8(b: Uint8Array, what: string): string;
/** Reader reads big-endian integers and QUIC varints (RFC 9000 §16). */
export declare class Reader {
    private readonly b;
    private i;
    constructor(b: Uint8Array);
    get remaining(): number;
    u8(what: string): number;
    u16(what: string): number;
    u32(what: string): number;
    /** varint reads a variable-length integer. Values above 2^53 cannot be a
     * length of anything in memory and are refused. */
    varint(what: string): number;
    /** bytes returns a view of the next n bytes (not a copy). */
    bytes(n: number, what: string): Uint8Array;
    /** vbytes reads a varint length, then that many bytes. */
    vbytes(what: string): Uint8Array;
    /** rest returns every byte left. */
    rest(): Uint8Array;
}
/** varint encodes a QUIC variable-length integer in its shortest form. */
export declare function varint(v: number): Uint8Array;
export declare function concat(...parts: Uint8Array[]): Uint8Array;
export declare function equalBytes(a: Uint8Array, b: Uint8Array): boolean;
/** base64url encodes without padding (RFC 4648 §5). */
export declare function base64url(b: Uint8Array): string;
/** fromBase64url decodes unpadded base64url strictly: a text that does not
 * encode back to itself (padding, the standard alphabet, stray bits in
 * the last character) gives undefined, so each byte string has one text. */
export declare function fromBase64url(s: string): Uint8Array | undefined;
/** u8 copies any buffer source into a fresh Uint8Array whose buffer is a
 * plain ArrayBuffer, as WebCrypto wants. */
export declare function u8(b: ArrayBuffer | ArrayBufferView): Uint8Array<ArrayBuffer>;
