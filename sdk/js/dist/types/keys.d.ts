import { type KeyConfig, type Suite } from "./ohttp.js";
export interface Key {
    config: KeyConfig;
    suite: Suite;
}
export interface KeySourceOptions {
    url: string;
    pin?: Uint8Array;
    postQuantum: boolean;
    fetch: typeof fetch;
    now(): number;
}
export declare class KeySource {
    #private;
    private readonly o;
    fetches: number;
    constructor(o: KeySourceOptions);
    invalidate(): void;
    /** current returns the cached key if it is still fresh. */
    current(): Key | undefined;
    get(): Promise<Key>;
}
/** selectKey prefers X-Wing when postQuantum is set and offered, else
 * X25519, else the first supported; with the default suite (HKDF-SHA256,
 * AES-128-GCM) when listed, else the first supported suite. */
export declare function selectKey(configs: KeyConfig[], postQuantum: boolean): Key | undefined;
/** keysMaxAge reads max-age from Cache-Control, clamped to [1 min, 1 day];
 * an hour when absent. */
export declare function keysMaxAge(cc: string): number;
/** parseRetryAfter reads delay-seconds or an HTTP-date (RFC 9110
 * §10.2.3), in milliseconds; 0 when absent or unusable. */
export declare function parseRetryAfter(v: string | null, now: number): number;
