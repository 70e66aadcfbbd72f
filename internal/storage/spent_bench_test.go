package storage_test

import (
	"context"
	"testing"

	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
)

// BenchmarkSpentSetBytes reports the spent set's bytes per token: the
// dedup_claims rows of kind ClaimSpentToken with their primary-key and
// expiry indexes, as PostgreSQL stores 200,000 of them.
func BenchmarkSpentSetBytes(b *testing.B) {
	ctx := context.Background()
	db := storagetest.New(b)
	owner := storagetest.Owner(b, db)
	const n = 200000
	if _, err := owner.Exec(ctx, `INSERT INTO dedup_claims (kind, hash, expires_at)
		SELECT $1, sha256(i::text::bytea), date_trunc('hour', now()) + interval '49 hours'
		FROM generate_series(1, $2) AS i`, int16(storage.ClaimSpentToken), n); err != nil {
		b.Fatal(err)
	}
	if _, err := owner.Exec(ctx, `VACUUM ANALYZE dedup_claims`); err != nil {
		b.Fatal(err)
	}
	var size int64
	for b.Loop() {
		if err := owner.QueryRow(ctx, `SELECT pg_total_relation_size('dedup_claims')`).Scan(&size); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size)/n, "bytes/token")
}
