// Package loadgen is the load generator behind `veil bench` (whose
// targets internal/bench sets up): bounded and loopback-only, for the
// OHTTP gateway, the relay, the full ingest path and the inner ingest API,
// with the measurements it reports — a latency histogram of bounded
// memory, errors by kind, and the CPU time and peak resident memory of
// every process it started, read from /proc.
//
// Every request is freshly built and encapsulated (the gateway's replay
// check refuses repeated encapsulations, and ingest refuses a reused
// batch id). That client-side work — JSON encoding, Binary HTTP encoding,
// HPKE encapsulation, and on the way back decapsulation and checking the
// per-event results — runs outside the timed section, so the latency is
// that of the exchange alone; its CPU still counts towards the load
// generator's own figures.
//
// Warning: a load generator can overload what it points at. Run refuses
// every target that is not a loopback address and stops by itself after a
// bounded number of requests or a bounded time.
package loadgen
