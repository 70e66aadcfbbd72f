// FileStore: Node's persistent store, atomic by rename.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { FileStore } from "../../src/node-file-store.js";
import type { StoredBatch } from "../../src/store.js";

const batch = (id: string, n: number): StoredBatch => ({ id: id.padEnd(22, "A"), created: 60_000, events: Array.from({ length: n }, (_, i) => ({ schema: "a", version: 1, json: `{"n":${i}}` })) });

test("replace and list survive a new store on the same file; the file is private", async () => {
  const path = join(mkdtempSync(join(tmpdir(), "veil-fs-")), "queue.json");
  const s = new FileStore(path);
  assert.deepEqual(await s.list(), []);
  await Promise.all([s.replace([], [batch("a", 2)]), s.replace([], [batch("b", 3)])]);
  await s.replace([batch("a", 0).id], [batch("c", 1), batch("d", 1)]);
  const again = new FileStore(path);
  assert.deepEqual((await again.list()).map((b) => [b.id[0], b.events.length]), [["b", 3], ["c", 1], ["d", 1]]);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  await again.replace(["b", "c", "d"].map((x) => batch(x, 0).id), []);
  assert.deepEqual(await again.list(), []);
});

test("a damaged file reads as empty; malformed records are skipped", async () => {
  const path = join(mkdtempSync(join(tmpdir(), "veil-fs-")), "queue.json");
  writeFileSync(path, "{not json");
  assert.deepEqual(await new FileStore(path).list(), []);
  writeFileSync(path, JSON.stringify([batch("x", 1), { id: "short", created: 1, events: [] }, null]));
  const got = await new FileStore(path).list();
  assert.equal(got.length, 1);
  assert.equal(JSON.parse(readFileSync(path, "utf8")).length, 3); // reading changes nothing
});
