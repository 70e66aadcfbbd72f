/** DeliveryError is given to onError for every failed attempt to fetch
 * the keys or deliver a batch. It names what was requested and what came
 * back, never an event's content. */
export class DeliveryError extends Error {
  /** set by the client: how long until it tries again (0: not retried) */
  retryInMs = 0;
  constructor(
    readonly op: "fetch_keys" | "send",
    readonly url: string,
    message: string,
    /** the HTTP status, the gateway's own when inner; 0 for none */
    readonly status = 0,
    /** a Retry-After the answer carried, in milliseconds */
    readonly retryAfterMs = 0,
  ) {
    super(`veil: ${op === "send" ? "send" : "fetch keys"} ${url}: ${message}`);
    this.name = "DeliveryError";
  }
}
