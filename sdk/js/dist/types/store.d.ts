/** A batch as stored: its id (the ingest API's idempotency key, random and
 * fresh per batch), its creation time to the minute, and its events
 * encoded as the ingest API takes them. Nothing identifies the user: the
 * id is random per batch and the record goes once the batch is answered. */
export interface StoredBatch {
    id: string;
    created: number;
    events: {
        schema: string;
        version: number;
        json: string;
    }[];
    /** the Web Lock name of the client that owns this batch while it is
     * still growing; other clients leave it alone while the lock is held */
    owner?: string;
}
/** BatchStore keeps batches. replace must be atomic: after a crash either
 * all of it happened or none (a split batch must never coexist with its
 * halves, which would store its events twice). */
export interface BatchStore {
    /** persistent stores keep batches across page loads or processes */
    readonly persistent: boolean;
    replace(remove: string[], add: StoredBatch[]): Promise<void>;
    list(): Promise<StoredBatch[]>;
}
/** MemoryStore keeps batches for the life of the client only: the default
 * where there is no IndexedDB (Node, Deno). */
export declare class MemoryStore implements BatchStore {
    readonly persistent = false;
    private readonly m;
    replace(remove: string[], add: StoredBatch[]): Promise<void>;
    list(): Promise<StoredBatch[]>;
}
/** IndexedDBStore keeps batches in the origin's IndexedDB (database
 * "veil-sdk", object store "batches", keyed by batch id). */
export declare class IndexedDBStore implements BatchStore {
    #private;
    private readonly name;
    readonly persistent = true;
    constructor(name?: string);
    /** One readwrite transaction: atomic, and ordered after every
     * transaction started before it. */
    replace(remove: string[], add: StoredBatch[]): Promise<void>;
    list(): Promise<StoredBatch[]>;
}
/** validStored checks the shape of a record read back, which a damaged
 * database or another script of the origin could have changed. */
export declare function validStored(v: unknown): v is StoredBatch;
/** defaultStore is IndexedDB where there is one, else memory. */
export declare function defaultStore(): BatchStore;
