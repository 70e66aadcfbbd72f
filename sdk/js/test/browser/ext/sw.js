// An MV3 extension's service worker sending events with the SDK: no
// document, no page-hide; IndexedDB is the store.
import { createClient } from "./veil.js";

self.sendEvents = async (relay, keyPin, n) => {
  const c = createClient({ relay, keyPin });
  for (let i = 0; i < n; i++) c.record("web.test", 1, { case: "extension", n: i });
  const rs = await c.flush();
  await c.close();
  const by = {};
  for (const r of rs) by[r.status] = (by[r.status] ?? 0) + 1;
  return by;
};
