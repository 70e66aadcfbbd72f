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
    informational: {
        status: number;
        headers: Field[];
    }[];
}
/** Limits of the decoder: everything it allocates is bounded by the input,
 * and these bound what a hostile gateway answer can make it hold. */
export declare const maxFields = 256;
/** encodeRequest encodes r as a known-length, untruncated Binary HTTP
 * request, then pads it with zeros to padTo bytes when padTo is larger. */
export declare function encodeRequest(r: Request, padTo?: number): Uint8Array;
/** decodeResponse decodes a Binary HTTP response in any valid form. It
 * throws FormatError for anything else, a request included. */
export declare function decodeResponse(b: Uint8Array): Response;
/** field returns the value of the first field named name, or "". */
export declare function field(fs: Field[], name: string): string;
