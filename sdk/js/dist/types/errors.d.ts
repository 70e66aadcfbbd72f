/** DeliveryError is given to onError for every failed attempt to fetch
 * the keys or deliver a batch. It names what was requested and what came
 * back, never an event's content. */
export declare class DeliveryError extends Error {
    readonly op: "fetch_keys" | "send";
    readonly url: string;
    /** the HTTP status, the gateway's own when inner; 0 for none */
    readonly status: number;
    /** a Retry-After the answer carried, in milliseconds */
    readonly retryAfterMs: number;
    /** set by the client: how long until it tries again (0: not retried) */
    retryInMs: number;
    constructor(op: "fetch_keys" | "send", url: string, message: string, 
    /** the HTTP status, the gateway's own when inner; 0 for none */
    status?: number, 
    /** a Retry-After the answer carried, in milliseconds */
    retryAfterMs?: number);
}
