// Where batches wait between their cut and their answer, so that a page
// that goes away (closed, navigated, crashed) sends them on its next load,
// each under its own batch id: resending is idempotent.


/** A batch as stored: its id (the ingest API's idempotency key, random and
 * fresh per batch), its creation time to the minute, and its events
 * encoded as the ingest API takes them. Nothing identifies the user: the
 * id is random per batch and the record goes once the batch is answered. */
export interface StoredBatch {
  id: string;
  created: number;
  events: { schema: string; version: number; json: string }[];
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
export class MemoryStore implements BatchStore {
  readonly persistent = false;
  private readonly m = new Map<string, StoredBatch>();
  async replace(remove: string[], add: StoredBatch[]): Promise<void> {
    for (const id of remove) this.m.delete(id);
    for (const b of add) this.m.set(b.id, structuredClone(b));
  }
  async list(): Promise<StoredBatch[]> {
    return [...this.m.values()].map((b) => structuredClone(b));
  }
}

/** IndexedDBStore keeps batches in the origin's IndexedDB (database
 * "veil-sdk", object store "batches", keyed by batch id). */
export class IndexedDBStore implements BatchStore {
  readonly persistent = true;
  #db: Promise<IDBDatabase> | undefined;
  constructor(private readonly name = "veil-sdk") {}

  #tx(mode: IDBTransactionMode, f: (s: IDBObjectStore) => void): Promise<IDBObjectStore> {
    this.#db ??= done(Object.assign(indexedDB.open(this.name), {
      onupgradeneeded(this: IDBOpenDBRequest) {
        this.result.createObjectStore("batches");
      },
    }));
    return this.#db.then((db) => {
      const t = db.transaction("batches", mode);
      const s = t.objectStore("batches");
      f(s);
      return new Promise((resolve, reject) => {
        t.oncomplete = () => resolve(s);
        t.onabort = t.onerror = () => reject(t.error);
      });
    });
  }

  /** One readwrite transaction: atomic, and ordered after every
   * transaction started before it. */
  async replace(remove: string[], add: StoredBatch[]): Promise<void> {
    await this.#tx("readwrite", (s) => {
      for (const id of remove) s.delete(id);
      for (const b of add) s.put(b, b.id);
    });
  }

  async list(): Promise<StoredBatch[]> {
    let all: IDBRequest<unknown[]> | undefined;
    await this.#tx("readonly", (s) => (all = s.getAll()));
    return (all!.result ?? []).filter(validStored);
  }
}

function done<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/** validStored checks the shape of a record read back, which a damaged
 * database or another script of the origin could have changed. */
export function validStored(v: unknown): v is StoredBatch {
  const b = v as StoredBatch;
  return (
    typeof b === "object" && b !== null &&
    typeof b.id === "string" && b.id.length === 22 &&
    typeof b.created === "number" && Number.isFinite(b.created) &&
    Array.isArray(b.events) &&
    b.events.every((e) => typeof e?.schema === "string" && typeof e.version === "number" && typeof e.json === "string")
  );
}

/** defaultStore is IndexedDB where there is one, else memory. */
export function defaultStore(): BatchStore {
  return typeof indexedDB !== "undefined" ? new IndexedDBStore() : new MemoryStore();
}
