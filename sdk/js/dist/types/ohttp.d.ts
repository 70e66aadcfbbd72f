import { type Ephemeral, type Kem } from "./hpke.js";
export declare const requestMediaType = "message/ohttp-req";
export declare const responseMediaType = "message/ohttp-res";
export declare const keysMediaType = "application/ohttp-keys";
export declare const KEM_X25519 = 32;
export declare const KEM_XWING = 25722;
/** registerKem adds a KEM (the xwing entry point registers X-Wing). */
export declare function registerKem(k: Kem): void;
export interface Suite {
    kdf: number;
    aead: number;
}
/** A parsed key configuration (RFC 9458 §3). */
export interface KeyConfig {
    keyId: number;
    kem: number;
    publicKey: Uint8Array;
    suites: Suite[];
}
/** parseKeyConfigs parses an application/ohttp-keys document into the
 * configurations of the KEMs this client has. */
export declare function parseKeyConfigs(b: Uint8Array): KeyConfig[];
export declare function suiteSupported(s: Suite): boolean;
/** A sealed request, and the opener of its response. */
export interface Sealed {
    body: Uint8Array;
    open(encapsulatedResponse: Uint8Array): Promise<Uint8Array>;
}
/** sealRequest encapsulates a Binary HTTP request to cfg with suite s.
 * eph fixes the ephemeral key (tests only). */
export declare function sealRequest(cfg: KeyConfig, s: Suite, request: Uint8Array, eph?: Ephemeral): Promise<Sealed>;
/** DecryptError: an encapsulated response did not open. It does not say
 * which check failed. */
export declare class DecryptError extends Error {
    constructor();
}
