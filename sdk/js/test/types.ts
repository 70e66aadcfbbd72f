// Compile-time checks of the typed record<T> (npm run typecheck).
import { createClient } from "../src/index.js";

type Schemas = {
  "app.launch": { os: "ios" | "android" | "web"; cold_start_ms?: number };
  "page.view": { route: "home" | "settings" };
};

export function typed(): void {
  const c = createClient<Schemas>({ relay: "http://127.0.0.1:1/" });
  c.record("app.launch", 1, { os: "web", cold_start_ms: 412 });
  c.record("page.view", 1, { route: "home" });
  // @ts-expect-error an unknown schema
  c.record("app.crash", 1, {});
  // @ts-expect-error a value the schema's type does not allow
  c.record("app.launch", 1, { os: "windows" });
  // @ts-expect-error a field of another schema
  c.record("page.view", 1, { os: "web" });
  // Untyped clients take any flat object.
  createClient({ relay: "http://127.0.0.1:1/" }).record("anything", 2, { a: 1, b: "x", c: true, d: null });
}
