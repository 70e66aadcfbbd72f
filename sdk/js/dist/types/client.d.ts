import { DeliveryError } from "./errors.js";
import { type BatchStore } from "./store.js";
export type Status = "accepted" | "rejected" | "duplicate" | "dropped" | "queued";
/** The outcome of one recorded event. */
export interface Result {
    /** numbers this client's events from 1 in record order; 0 for events a
     * batch from an earlier page load or process carried */
    seq: number;
    schema: string;
    version: number;
    status: Status;
    /** the gateway's reason code (rejected) or the client's (dropped) */
    reason?: string;
    /** the offending field of a rejected event; never its value */
    field?: string;
}
/** Reasons for dropped events (the Go SDK's words, and a few of Record's). */
export declare const Reason: {
    readonly queueFull: "queue_full";
    readonly expired: "expired";
    readonly retriesExhausted: "retries_exhausted";
    readonly closed: "closed";
    readonly clockSkew: "clock_skew";
    readonly tooLarge: "too_large";
    readonly relayTooLarge: "relay_too_large";
    readonly refused: "refused";
    readonly noResult: "no_result";
    readonly invalidEvent: "invalid_event";
    readonly eventTooLarge: "event_too_large";
};
export interface ClientOptions {
    /** the relay: its origin (then requests go to /gateway) or the full URL
     * encapsulated requests are POSTed to */
    relay: string;
    /** the gateway's key pin, "veil-pin-ed25519:…" (`veil admin keys pin`).
     * Required unless the relay is on loopback or insecureNoKeyPin is set. */
    keyPin?: string;
    /** Warning: without a pin the relay can substitute its own key and read
     * every event. */
    insecureNoKeyPin?: boolean;
    /** allow http:// to a relay that is not on loopback (Warning: anyone on
     * the path sees who sends when) */
    insecureHttp?: boolean;
    /** where keys are fetched; default the relay's origin with
     * /ohttp-keys-signed (with a pin) or /ohttp-keys */
    keysUrl?: string;
    /** prefer the gateway's X-Wing key; needs the xwing entry point */
    postQuantum?: boolean;
    /** every event's outcome, exactly once */
    onResult?: (r: Result) => void;
    /** every failed attempt, with when it is retried */
    onError?: (e: DeliveryError) => void;
    /** events per batch (default 100) */
    maxBatchEvents?: number;
    /** encoded size of a batch before padding (default 16 KiB, so that every
     * batch fits the 16 KiB padding bucket and the page-hide keepalive
     * quota with its OHTTP overhead) */
    maxBatchBytes?: number;
    /** how long an event waits for its batch to fill (default 5 s) */
    flushIntervalMs?: number;
    /** events held and not yet answered (default 10,000): past it record
     * drops the newest with queue_full */
    maxQueueEvents?: number;
    /** how long a batch may wait for delivery (default 7 days, the gateway's
     * deduplication horizon) */
    maxAgeMs?: number;
    /** batches kept in the store (default 1000); the oldest go first */
    maxStoredBatches?: number;
    /** requests per batch (default 0: retried until maxAgeMs) */
    maxAttempts?: number;
    /** cap on a backoff wait or a Retry-After (default 5 min) */
    maxRetryWaitMs?: number;
    /** where batches wait: IndexedDB in browsers, memory elsewhere */
    store?: BatchStore;
    /** keep the pending batch sealed and send it with fetch keepalive when
     * the page is hidden (default: on where there is a document) */
    pageHide?: boolean;
    /** how old the pre-sealed batch may get before it is sealed again with
     * a fresh Date; below half the gateway's 5-minute Date window (default
     * 2 min) */
    resealMs?: number;
    /** the fetch to use (default globalThis.fetch) */
    fetch?: typeof fetch;
}
export type Fields = Record<string, string | number | boolean | null | undefined>;
/** The client's public surface. T maps schema names to their field types,
 * so that record("app.launch", 1, {...}) is checked by the compiler. */
export interface VeilClient<T extends Record<string, Fields> = Record<string, Fields>> {
    /** queues one event; never throws and never waits for the network */
    record<S extends keyof T & string>(schema: S, version: number, fields: T[S]): void;
    /** sends everything recorded and resolves to one result per event
     * recorded since the last flush, in order */
    flush(opts?: {
        signal?: AbortSignal;
    }): Promise<Result[]>;
    /** flushes (waiting at most timeoutMs, default 10 s), then stops;
     * unanswered events are "queued" in a persistent store, else dropped */
    close(opts?: {
        timeoutMs?: number;
    }): Promise<Result[]>;
    stats(): Stats;
}
export interface Stats {
    recorded: number;
    accepted: number;
    duplicate: number;
    rejected: number;
    dropped: number;
    requests: number;
    retries: number;
    keyFetches: number;
    /** requests sent by the page-hide handler */
    hideSends: number;
}
/** createClient checks the options and starts a client. It throws for
 * options that are wrong (no pin for a remote relay, a bad pin, http://);
 * it does no network I/O before the first event but the key warm-up. */
export declare function createClient<T extends Record<string, Fields> = Record<string, Fields>>(o: ClientOptions): VeilClient<T>;
export declare function newBatchId(): string;
/** paddedSize: 1, 4, 16 or 64 KiB, then multiples of 64 KiB. */
export declare function paddedSize(n: number): number;
/** backoff: full jitter in [0, min(max, base·2ⁿ)); a Retry-After is a
 * minimum plus up to one base of jitter, capped at max. */
export declare function backoff(n: number, retryAfterMs: number, maxMs: number, rand?: () => number): number;
