package storage_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
)

// signer is a stand-in signing key: storage keeps bytes, it does not sign.
func signer() (public, seed []byte) {
	return randBytes(32), randBytes(32)
}

func TestSigners(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	master := make([]byte, 32)
	rand.Read(master)
	db := storagetest.Open(t, storage.Config{MasterKey: master})

	if got, err := db.ListSigners(ctx); err != nil || len(got) != 0 {
		t.Fatalf("fresh database: %v, %v; want no signing keys", got, err)
	}
	pub1, seed1 := signer()
	first, err := db.AddSigner(ctx, storage.SignerCurrent, pub1, seed1)
	if err != nil || first.CreatedAt.IsZero() {
		t.Fatalf("AddSigner: %+v, %v", first, err)
	}
	pubX, seedX := signer()
	if _, err := db.AddSigner(ctx, storage.SignerCurrent, pubX, seedX); !errors.Is(err, storage.ErrSignerConflict) {
		t.Fatalf("second current signing key: %v; want ErrSignerConflict", err)
	}
	if _, err := db.AddSigner(ctx, storage.SignerRetired, pubX, seedX); err == nil {
		t.Fatal("AddSigner in state retired succeeded")
	}
	if _, err := db.PromoteSigner(ctx); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("promote without a next key: %v; want ErrNotFound", err)
	}
	pub2, seed2 := signer()
	if _, err := db.AddSigner(ctx, storage.SignerNext, pub2, seed2); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddSigner(ctx, storage.SignerNext, pubX, seedX); !errors.Is(err, storage.ErrSignerConflict) {
		t.Fatalf("second next signing key: %v; want ErrSignerConflict", err)
	}
	got, err := db.ListSigners(ctx)
	if err != nil || len(got) != 2 {
		t.Fatalf("ListSigners = %v, %v; want 2", got, err)
	}
	if got[0].State != storage.SignerCurrent || !bytes.Equal(got[0].PublicKey, pub1) || !bytes.Equal(got[0].Secret, seed1) ||
		got[1].State != storage.SignerNext || !bytes.Equal(got[1].PublicKey, pub2) || !bytes.Equal(got[1].Secret, seed2) {
		t.Fatalf("ListSigners: %+v; want current (round-tripped) then next", got)
	}

	// Never in clear at rest.
	for _, s := range [][]byte{seed1, seed2} {
		for i := 0; i+8 <= len(s); i += 4 {
			var n int
			err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM key_signers
				WHERE position($1::bytea IN coalesce(sealed_secret, '')) > 0 OR position($1::bytea IN public_key) > 0`, s[i:i+8]).Scan(&n)
			if err != nil || n != 0 {
				t.Fatalf("seed bytes found in key_signers (%v)", err)
			}
		}
	}

	// A wrong master key cannot open them.
	other := make([]byte, 32)
	rand.Read(other)
	wrong, err := storage.Open(ctx, storage.Config{URL: db.Pool().Config().ConnString(), MasterKey: other}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if _, err := wrong.ListSigners(ctx); !errors.Is(err, storage.ErrUnsealKey) {
		t.Fatalf("wrong master key: %v; want ErrUnsealKey", err)
	}

	// Promotion: next becomes current, the old current is retired and
	// its secret wiped.
	promoted, err := db.PromoteSigner(ctx)
	if err != nil || !bytes.Equal(promoted.PublicKey, pub2) || promoted.State != storage.SignerCurrent {
		t.Fatalf("PromoteSigner = %+v, %v", promoted, err)
	}
	got, err = db.ListSigners(ctx)
	if err != nil || len(got) != 2 {
		t.Fatalf("after promotion: %v, %v", got, err)
	}
	if !bytes.Equal(got[0].PublicKey, pub2) || got[0].State != storage.SignerCurrent || !bytes.Equal(got[0].Secret, seed2) {
		t.Errorf("current after promotion: %+v", got[0])
	}
	if !bytes.Equal(got[1].PublicKey, pub1) || got[1].State != storage.SignerRetired || got[1].Secret != nil || got[1].RetiredAt.IsZero() {
		t.Errorf("old key after promotion: %+v; want retired, no secret", got[1])
	}
	var wiped bool
	if err := db.Pool().QueryRow(ctx, "SELECT sealed_secret IS NULL FROM key_signers WHERE public_key = $1", pub1).Scan(&wiped); err != nil || !wiped {
		t.Fatalf("retired signing key's secret kept: %v %v", wiped, err)
	}
	if _, err := db.PromoteSigner(ctx); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("second promotion: %v; want ErrNotFound", err)
	}

	// A sealed seed moved to another public key does not open.
	pub3, seed3 := signer()
	if _, err := db.AddSigner(ctx, storage.SignerNext, pub3, seed3); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool().Exec(ctx, `UPDATE key_signers SET sealed_secret = (SELECT sealed_secret FROM key_signers WHERE public_key = $1) WHERE public_key = $2`, pub2, pub3); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ListSigners(ctx); !errors.Is(err, storage.ErrUnsealKey) {
		t.Fatalf("swapped sealed seed: %v; want ErrUnsealKey", err)
	}
}
