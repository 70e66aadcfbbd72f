package storage_test

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"

	"github.com/veil-telemetry/veil/internal/keystate"
	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
	"github.com/veil-telemetry/veil/migrations"
)

// TestRetentionRecordsKeySchedule: retention records the moves the
// schedule makes: a rotated-out key drains after its grace, keeping its
// secret, and is retired, its secret wiped, once the drain is over.
func TestRetentionRecordsKeySchedule(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	master := make([]byte, 32)
	rand.Read(master)
	db := storagetest.Open(t, storage.Config{MasterKey: master})
	secrets := map[uint8][]byte{}
	old, err := db.AddKey(ctx, 0x20, fakeGen(secrets), keystate.Current)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := db.RotateKey(ctx, 0x20, fakeGen(secrets), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	stateOf := func(id uint8) storage.KeyRecord {
		t.Helper()
		keys, err := db.ListKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if k.ID == id {
				return k
			}
		}
		t.Fatalf("key %d missing", id)
		return storage.KeyRecord{}
	}
	for _, step := range []struct {
		after     time.Duration
		want      keystate.State
		hasSecret bool
	}{
		{time.Hour - time.Second, keystate.Active, true},
		{time.Hour + time.Second, keystate.Draining, true},
		{time.Hour + keystate.Drain + time.Second, keystate.Retired, false},
	} {
		if err := db.RunRetention(ctx, cur.CreatedAt.Add(step.after), storage.RetentionConfig{}); err != nil {
			t.Fatal(err)
		}
		k := stateOf(old.ID)
		if k.State != step.want || (k.Secret != nil) != step.hasSecret {
			t.Errorf("+%v: old key %s with secret %v; want %s, %v", step.after, k.State, k.Secret != nil, step.want, step.hasSecret)
		}
		if c := stateOf(cur.ID); c.State != keystate.Current || c.Secret == nil {
			t.Errorf("+%v: current key %s", step.after, c.State)
		}
	}
}

// TestMigrationKeepsRotatedKeysSchedule: a key rotated before the draining
// state existed (migration 005) keeps its schedule: published until its
// retire-after time, refused from then on.
func TestMigrationKeepsRotatedKeysSchedule(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	url := storagetest.EmptyURL(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	m, err := migrate.NewMigrator(ctx, conn, "public.veil_schema_version")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.LoadMigrations(migrations.FS); err != nil {
		t.Fatal(err)
	}
	if err := m.MigrateTo(ctx, 4); err != nil {
		t.Fatal(err)
	}
	// PostgreSQL keeps microseconds.
	retire := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	if _, err := conn.Exec(ctx, `INSERT INTO key_ring (id, kem, config, sealed_secret, state, created_at, retire_after)
		VALUES (1, 32, '\x01', '\x02', 'active', now(), $1), (2, 32, '\x03', '\x04', 'current', now(), NULL)`, retire); err != nil {
		t.Fatal(err)
	}
	if _, _, err := storage.Migrate(ctx, url, nil); err != nil {
		t.Fatal(err)
	}
	var drain, retireAfter *time.Time
	if err := conn.QueryRow(ctx, "SELECT drain_after, retire_after FROM key_ring WHERE id = 1").Scan(&drain, &retireAfter); err != nil {
		t.Fatal(err)
	}
	if drain == nil || retireAfter == nil || !drain.Equal(retire) || !retireAfter.Equal(retire) {
		t.Errorf("migrated active key: drain after %v, retire after %v; want both %v", drain, retireAfter, retire)
	}
	if err := conn.QueryRow(ctx, "SELECT drain_after FROM key_ring WHERE id = 2").Scan(&drain); err != nil || drain != nil {
		t.Errorf("current key drain after %v, %v; want none", drain, err)
	}
	if _, err := conn.Exec(ctx, "UPDATE key_ring SET state = 'draining' WHERE id = 1"); err != nil {
		t.Errorf("draining refused: %v", err)
	}
	if _, err := conn.Exec(ctx, "UPDATE key_ring SET state = 'expired' WHERE id = 1"); err == nil {
		t.Error("an unknown state was accepted")
	}
}
