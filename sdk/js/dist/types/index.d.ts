export { createClient, Reason, type ClientOptions, type Fields, type Result, type Stats, type Status, type VeilClient } from "./client.js";
export { DeliveryError } from "./errors.js";
export { MemoryStore, IndexedDBStore, type BatchStore, type StoredBatch } from "./store.js";
export declare const version = "0.1.0";
