// FileStore: a persistent BatchStore for Node, where there is no
// IndexedDB. All batches live in one JSON file, rewritten whole through a
// temporary file and a rename, so every replace is atomic. It is a
// separate entry point so that browser bundles never see node:fs.

import { open, readFile, rename, rm } from "node:fs/promises";
import type { BatchStore, StoredBatch } from "./store.js";
import { validStored } from "./store.js";

export class FileStore implements BatchStore {
  readonly persistent = true;
  private chain: Promise<unknown> = Promise.resolve();
  /** path is the file; it is created with mode 0600 when first needed. */
  constructor(private readonly path: string) {}

  private async read(): Promise<StoredBatch[]> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw e;
    }
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      return [];
    }
    return Array.isArray(v) ? v.filter(validStored) : [];
  }

  replace(remove: string[], add: StoredBatch[]): Promise<void> {
    const run = this.chain.then(async () => {
      const gone = new Set(remove);
      const kept = (await this.read()).filter((b) => !gone.has(b.id) && !add.some((a) => a.id === b.id));
      const all = [...kept, ...add];
      if (all.length === 0) {
        await rm(this.path, { force: true });
        return;
      }
      const tmp = `${this.path}.tmp`;
      const f = await open(tmp, "w", 0o600);
      try {
        await f.writeFile(JSON.stringify(all));
        await f.sync();
      } finally {
        await f.close();
      }
      await rename(tmp, this.path);
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  list(): Promise<StoredBatch[]> {
    const run = this.chain.then(() => this.read());
    this.chain = run.catch(() => undefined);
    return run;
  }
}
