// @veil-telemetry/web: anonymous telemetry from web pages, workers and MV3
// extension service workers over Oblivious HTTP (RFC 9458) through a veil
// relay. See README.md.

export { createClient, Reason, type ClientOptions, type Fields, type Result, type Stats, type Status, type VeilClient } from "./client.js";
export { DeliveryError } from "./errors.js";
export { MemoryStore, IndexedDBStore, type BatchStore, type StoredBatch } from "./store.js";
export const version = "0.1.0";
