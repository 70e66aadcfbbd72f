package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
)

// BenchmarkSpend measures what a spent-token claim adds to a request's
// commit: one request of 10 events at a time (the writer's latency, not
// its throughput), without and with a token claim, in the same run. The
// spent set holds 100,000 tokens of the window first, so the claim's
// index lookup is not on an empty table.
func BenchmarkSpend(b *testing.B) {
	ctx := context.Background()
	db := storagetest.New(b)
	w := storagetest.NewWriter(b, db, storage.WriterConfig{})
	defer w.Close(ctx)
	window := time.Now().UTC().Truncate(24 * time.Hour)
	// Partition and a realistic spent set (through the writer's own path
	// for the partition, then in bulk).
	seed := batchOf(b, "spend-seed", 1)
	seed.Token = &storage.TokenClaim{Window: window, Hash: randBytes(16)}
	if _, err := w.Write(ctx, seed); err != nil {
		b.Fatal(err)
	}
	if _, err := storagetest.Owner(b, db).Exec(ctx, `INSERT INTO spent_tokens (window_start, hash)
		SELECT $1, decode(md5(i::text || random()::text), 'hex') FROM generate_series(1, 100000) AS i`, window); err != nil {
		b.Fatal(err)
	}
	recs := benchRecords(10)
	for _, token := range []bool{false, true} {
		name := map[bool]string{false: "no-token", true: "token"}[token]
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				bt := &storage.Batch{Records: recs, BatchKey: randKey(), EncHash: randBytes(32)}
				if token {
					bt.Token = &storage.TokenClaim{Window: window, Hash: randBytes(16)}
				}
				if st, err := w.Write(ctx, bt); err != nil || st != storage.StatusCommitted {
					b.Fatalf("%v %v", st, err)
				}
			}
		})
	}
}

// BenchmarkSpentSetBytes reports the spent set's bytes per token (table
// and primary-key index, as PostgreSQL stores them) for 200,000 tokens of
// one window.
func BenchmarkSpentSetBytes(b *testing.B) {
	ctx := context.Background()
	db := storagetest.New(b)
	w := storagetest.NewWriter(b, db, storage.WriterConfig{})
	defer w.Close(ctx)
	window := time.Now().UTC().Truncate(24 * time.Hour)
	seed := batchOf(b, "bytes-seed", 1)
	seed.Token = &storage.TokenClaim{Window: window, Hash: randBytes(16)}
	if _, err := w.Write(ctx, seed); err != nil {
		b.Fatal(err)
	}
	own := storagetest.Owner(b, db)
	const n = 200000
	for b.Loop() {
		if _, err := own.Exec(ctx, "TRUNCATE spent_tokens"); err != nil {
			b.Fatal(err)
		}
		if _, err := own.Exec(ctx, `INSERT INTO spent_tokens (window_start, hash)
			SELECT $1, substr(decode(md5(i::text || random()::text), 'hex'), 1, 16) FROM generate_series(1, $2) AS i`, window, n); err != nil {
			b.Fatal(err)
		}
	}
	var size int64
	if err := own.QueryRow(ctx, `SELECT sum(pg_total_relation_size(i.inhrelid)) FROM pg_inherits i
		WHERE i.inhparent = 'spent_tokens'::regclass`).Scan(&size); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(size)/n, "bytes/token")
}
