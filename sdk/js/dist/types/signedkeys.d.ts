export declare const signedKeysMediaType = "application/vnd.veil.signed-ohttp-keys";
export declare const pinPrefix = "veil-pin-ed25519:";
export declare const maxSignedLength: number;
/** parsePin parses a pin's text form strictly: the prefix and exactly 43
 * canonical base64url characters. It returns the 32-byte public key. */
export declare function parsePin(s: string): Uint8Array;
export declare class PinError extends Error {
    constructor(msg: string);
}
/** NotAuthenticatedError: the key document is not signed by the pinned
 * key (or the signature does not verify). Nothing of it is used. */
export declare class NotAuthenticatedError extends Error {
    constructor(why: string);
}
/** verifySigned parses a signed key document and checks that the pinned
 * key signed it. It returns a copy of the application/ohttp-keys bytes the
 * signature covers, the only bytes a client may use. */
export declare function verifySigned(b: Uint8Array, pin: Uint8Array): Promise<Uint8Array>;
