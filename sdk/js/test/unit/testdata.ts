import { readFileSync } from "node:fs";
import { join } from "node:path";

// The same vector files the Go tests read (the repository root is three
// levels up from sdk/js/.test-build).
const repo = join(process.cwd(), "..", "..");

export function vectors(rel: string): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const line of readFileSync(join(repo, rel), "utf8").split("\n")) {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) continue;
    const [name, hex] = t.split(/\s+/, 2) as [string, string];
    out[name] = hexBytes(hex);
  }
  return out;
}

export function hexBytes(h: string): Uint8Array {
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
