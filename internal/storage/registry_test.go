package storage_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/keystate"
	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
)

func TestSchemaRegistry(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storagetest.New(t)
	doc := []byte(`{"x-veil":{"name":"app.launch","version":1}}`)
	created, err := db.PutSchema(ctx, storage.SchemaRecord{Name: "app.launch", Version: 1, Document: doc})
	if err != nil || !created {
		t.Fatalf("first PutSchema = %v, %v", created, err)
	}
	created, err = db.PutSchema(ctx, storage.SchemaRecord{Name: "app.launch", Version: 1, Document: doc})
	if err != nil || created {
		t.Fatalf("identical PutSchema = %v, %v; want false, nil", created, err)
	}
	_, err = db.PutSchema(ctx, storage.SchemaRecord{Name: "app.launch", Version: 1, Document: []byte(`{}`)})
	if !errors.Is(err, storage.ErrSchemaConflict) {
		t.Fatalf("different document: %v; want ErrSchemaConflict", err)
	}
	if _, err := db.PutSchema(ctx, storage.SchemaRecord{Name: "app.launch", Version: 2, Document: []byte(`{"v":2}`)}); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetSchema(ctx, "app.launch", 1)
	if err != nil || !bytes.Equal(got.Document, doc) || got.CreatedAt.IsZero() {
		t.Fatalf("GetSchema = %+v, %v", got, err)
	}
	if _, err := db.GetSchema(ctx, "app.launch", 3); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("missing version: %v; want ErrNotFound", err)
	}
	all, err := db.ListSchemasAfter(ctx, "", 0, 100)
	if err != nil || len(all) != 2 || all[0].Version != 1 || all[1].Version != 2 {
		t.Fatalf("ListSchemasAfter from the start = %+v, %v", all, err)
	}
	for _, c := range []struct {
		name     string
		version  int
		limit    int
		versions []int
	}{
		{"", 0, 1, []int{1}},
		{"app.launch", 1, 10, []int{2}},
		{"app.launch", 2, 10, nil},
		{"app.l", 9, 10, []int{1, 2}},
	} {
		page, err := db.ListSchemasAfter(ctx, c.name, c.version, c.limit)
		var got []int
		for _, r := range page {
			got = append(got, r.Version)
		}
		if err != nil || !slices.Equal(got, c.versions) {
			t.Fatalf("ListSchemasAfter(%q, %d, %d) = %v, %v; want %v", c.name, c.version, c.limit, got, err, c.versions)
		}
	}
	// Immutable in the database too, not only through PutSchema.
	if _, err := storagetest.Owner(t, db).Exec(ctx, "UPDATE schemas SET document = '\\x00' WHERE name = 'app.launch'"); err == nil {
		t.Fatal("UPDATE of a registered schema succeeded")
	}
	if _, err := storagetest.Owner(t, db).Exec(ctx, "DELETE FROM schemas"); err == nil {
		t.Fatal("DELETE of a registered schema succeeded")
	}
}

// fakeGen makes recognizable key material for id.
func fakeGen(secrets map[uint8][]byte) storage.KeyGen {
	return func(id uint8) ([]byte, []byte, error) {
		s := make([]byte, 32)
		rand.Read(s)
		secrets[id] = s
		return []byte{id, 0x00, 0x20, 0xaa}, s, nil
	}
}

func TestKeyRing(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	master := make([]byte, 32)
	rand.Read(master)
	db := storagetest.Open(t, storage.Config{MasterKey: master})
	secrets := map[uint8][]byte{}
	first, err := db.AddKey(ctx, 0x20, fakeGen(secrets), keystate.Current)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddKey(ctx, 0x20, fakeGen(secrets), keystate.Current); !errors.Is(err, storage.ErrKeyConflict) {
		t.Fatalf("second current key: %v; want ErrKeyConflict", err)
	}
	second, err := db.RotateKey(ctx, 0x20, fakeGen(secrets), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if second.ID == first.ID {
		t.Fatalf("rotation reused live id %d", first.ID)
	}
	keys, err := db.ListKeys(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("ListKeys = %v, %v", keys, err)
	}
	byID := map[uint8]storage.KeyRecord{}
	for _, k := range keys {
		byID[k.ID] = k
		if !bytes.Equal(k.Secret, secrets[k.ID]) {
			t.Errorf("key %d: secret does not round-trip", k.ID)
		}
	}
	// Published an hour (the grace), then draining until every keys
	// document that listed it has expired.
	if k := byID[first.ID]; k.State != keystate.Active || k.DrainAfter.Sub(second.CreatedAt) != time.Hour ||
		k.RetireAfter.Sub(k.DrainAfter) != keystate.Drain {
		t.Errorf("old key after rotation: %s drain after %v, retire after %v; want active, drain an hour after %v, retire %v later",
			k.State, k.DrainAfter, k.RetireAfter, second.CreatedAt, keystate.Drain)
	}
	if byID[second.ID].State != keystate.Current {
		t.Errorf("new key state %s", byID[second.ID].State)
	}

	// Never in clear at rest: neither the secret nor any 8-byte window of it.
	for id, s := range secrets {
		for i := 0; i+8 <= len(s); i += 4 {
			var n int
			err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM key_ring
				WHERE position($1::bytea IN coalesce(sealed_secret, '')) > 0 OR position($1::bytea IN config) > 0`, s[i:i+8]).Scan(&n)
			if err != nil || n != 0 {
				t.Fatalf("key %d: secret bytes found in key_ring (%v)", id, err)
			}
		}
	}
	// A sealed secret moved to another id does not open (the id is AAD).
	if _, err := db.Pool().Exec(ctx, `UPDATE key_ring SET sealed_secret = (SELECT sealed_secret FROM key_ring WHERE id = $1) WHERE id = $2`, int16(first.ID), int16(second.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ListKeys(ctx); !errors.Is(err, storage.ErrUnsealKey) {
		t.Fatalf("swapped sealed secret: %v; want ErrUnsealKey", err)
	}
	// Retiring wipes the secret.
	if err := db.RetireKey(ctx, second.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.RetireKey(ctx, second.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("retire twice: %v", err)
	}
	var wiped bool
	if err := db.Pool().QueryRow(ctx, "SELECT sealed_secret IS NULL FROM key_ring WHERE id = $1", int16(second.ID)).Scan(&wiped); err != nil || !wiped {
		t.Fatalf("retired key secret kept: %v %v", wiped, err)
	}
	// A wrong master key cannot open the ring.
	other := make([]byte, 32)
	rand.Read(other)
	wrong, err := storage.Open(ctx, storage.Config{URL: db.Pool().Config().ConnString(), MasterKey: other}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if _, err := wrong.ListKeys(ctx); !errors.Is(err, storage.ErrUnsealKey) {
		t.Fatalf("wrong master key: %v; want ErrUnsealKey", err)
	}
}

// TestRotateKeyIfRace rotates one KEM from several replicas at once, each
// expecting the current key it saw: exactly one rotates, the others get
// ErrKeyConflict, and the ring ends with one new current key.
func TestRotateKeyIfRace(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storagetest.New(t)
	gen := func(id uint8) ([]byte, []byte, error) {
		s := make([]byte, 32)
		rand.Read(s)
		return []byte{id, 0x00, 0x20, 0xaa}, s, nil
	}
	first, err := db.AddKey(ctx, 0x20, gen, keystate.Current)
	if err != nil {
		t.Fatal(err)
	}
	const replicas = 4
	type result struct {
		rec storage.KeyRecord
		err error
	}
	start := make(chan struct{})
	results := make(chan result, replicas)
	for range replicas {
		go func() {
			<-start
			rec, err := db.RotateKeyIf(ctx, 0x20, first.ID, gen, time.Hour)
			results <- result{rec, err}
		}()
	}
	close(start)
	var won []storage.KeyRecord
	for range replicas {
		r := <-results
		switch {
		case r.err == nil:
			won = append(won, r.rec)
		case !errors.Is(r.err, storage.ErrKeyConflict):
			t.Fatalf("RotateKeyIf: %v; want nil or ErrKeyConflict", r.err)
		}
	}
	if len(won) != 1 {
		t.Fatalf("%d replicas rotated; want exactly 1", len(won))
	}
	keys, err := db.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("%d keys after racing rotations; want 2 (old active, new current): %v", len(keys), keys)
	}
	for _, k := range keys {
		switch k.ID {
		case first.ID:
			if k.State != keystate.Active {
				t.Errorf("old key %d is %s; want active", k.ID, k.State)
			}
		case won[0].ID:
			if k.State != keystate.Current {
				t.Errorf("new key %d is %s; want current", k.ID, k.State)
			}
		default:
			t.Errorf("unexpected key %d (%s)", k.ID, k.State)
		}
	}

	// A stale expectation changes nothing; the right one rotates.
	if _, err := db.RotateKeyIf(ctx, 0x20, first.ID, gen, time.Hour); !errors.Is(err, storage.ErrKeyConflict) {
		t.Fatalf("stale expectation: %v; want ErrKeyConflict", err)
	}
	third, err := db.RotateKeyIf(ctx, 0x20, won[0].ID, gen, time.Hour)
	if err != nil || third.State != keystate.Current {
		t.Fatalf("rotate with the current id: %+v, %v", third, err)
	}
	// A KEM with no current key is a conflict too, and creates nothing.
	if _, err := db.RotateKeyIf(ctx, 0x10, 0, gen, time.Hour); !errors.Is(err, storage.ErrKeyConflict) {
		t.Fatalf("no current key: %v; want ErrKeyConflict", err)
	}
	if keys, err := db.ListKeys(ctx); err != nil || len(keys) != 3 {
		t.Fatalf("ListKeys = %d keys, %v; want 3", len(keys), err)
	}
}
