// Package storage keeps veil's data in PostgreSQL through pgx: the durable
// batch writer that ingest hands accepted records to, the schema registry,
// the OHTTP key ring (private keys sealed under a master key), aggregate
// queries with k-anonymity, retention, and the managed local server that
// `veil serve` starts when no database URL is given.
//
// Privacy (DESIGN.md, invariant 3): event rows carry the server's receive
// bucket, never an arrival-ordered id or a batch id; each commit group's
// rows are shuffled across its requests before COPY; dedup keys are kept in
// their own tables, apart from the rows.
//
// Reliability: a request is completed (Batch.Done) only after the
// transaction holding it has committed, so a crash at any moment loses no
// acknowledged event; a retry of a committed batch is refused as a
// duplicate by its idempotency key.
package storage
