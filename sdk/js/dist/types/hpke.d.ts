/** A KEM: Encap(pkR) → (shared_secret, enc) (RFC 9180 §4). */
export interface Kem {
    id: number;
    /** Npk */
    publicKeySize: number;
    encap(pkR: Uint8Array, ephemeral?: Ephemeral): Promise<{
        sharedSecret: Uint8Array;
        enc: Uint8Array;
    }>;
}
/** Test hook: a fixed ephemeral private key (raw bytes). */
export interface Ephemeral {
    sk: Uint8Array;
}
export declare const kdfHash: Record<number, [string, number]>;
/** AEAD id → Nk (all AES-GCM, Nn = 12) */
export declare const aeadNk: Record<number, number>;
/** HKDF-Extract (RFC 5869 §2.2); an empty salt is Nh zeros. */
export declare function extract(hash: string, nh: number, salt: Uint8Array, ikm: Uint8Array): Promise<Uint8Array>;
/** HKDF-Expand (RFC 5869 §2.3). */
export declare function expand(hash: string, prk: Uint8Array, info: Uint8Array, n: number): Promise<Uint8Array>;
/** x25519Pair makes an ephemeral X25519 key (or imports the raw scalar
 * sk, for tests) and returns X25519(sk, peer) and its public key. */
export declare function x25519Pair(peer: Uint8Array, sk?: Uint8Array): Promise<{
    dh: Uint8Array;
    pub: Uint8Array;
}>;
/** DHKEM(X25519, HKDF-SHA256), KEM 0x0020 (RFC 9180 §4.1, §7.1). */
export declare const x25519: Kem;
/** A sender context after one Seal: the ciphertext, enc, and Export. */
export interface Sent {
    enc: Uint8Array;
    ct: Uint8Array;
    exportSecret(context: Uint8Array, n: number): Promise<Uint8Array>;
}
/** sealBase is SetupBaseS followed by one Seal with empty aad (RFC 9180
 * §5.1, §5.2). The caller has checked that kdf and aead are supported. */
export declare function sealBase(kem: Kem, kdf: number, aead: number, pkR: Uint8Array, info: Uint8Array, pt: Uint8Array, eph?: Ephemeral): Promise<Sent>;
