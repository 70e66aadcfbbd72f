package keyfile

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/veil-telemetry/veil/ohttp"
)

func genKey(t *testing.T, id uint8, kem ohttp.KEMID) *ohttp.PrivateKey {
	t.Helper()
	k, err := ohttp.GenerateKey(nil, id, kem, []ohttp.SymmetricSuite{ohttp.DefaultSuite})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestRoundTrip: a written file reads back to a key that decrypts for its
// configuration, with mode 0600, and is never overwritten.
func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, kem := range []ohttp.KEMID{ohttp.KEMX25519, ohttp.KEMXWing, ohttp.KEMP256, ohttp.KEMX25519Kyber768} {
		k := genKey(t, 3, kem)
		path := filepath.Join(dir, kem.Name()+".key")
		if err := Write(path, k); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%v: %v %v", kem, st, err)
		}
		back, err := Read(path)
		if err != nil {
			t.Fatal(err)
		}
		enc, _, err := ohttp.EncapsulateRequest(nil, &k.Config, ohttp.DefaultSuite, []byte("hello"))
		if err != nil {
			t.Fatal(err)
		}
		req, err := ohttp.ParseEncapsulatedRequest(enc)
		if err != nil {
			t.Fatal(err)
		}
		if pt, _, err := back.DecapsulateRequest(req); err != nil || string(pt) != "hello" {
			t.Errorf("%v: read-back key: %q %v", kem, pt, err)
		}
		if err := Write(path, genKey(t, 4, kem)); err == nil {
			t.Errorf("%v: overwrote an existing key file", kem)
		}
	}
}

func TestReadAll(t *testing.T) {
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	Write(a, genKey(t, 7, ohttp.KEMX25519))
	Write(b, genKey(t, 9, ohttp.KEMXWing))
	Write(c, genKey(t, 7, ohttp.KEMX25519))
	keys, err := ReadAll([]string{b, a})
	if err != nil || len(keys) != 2 || keys[0].Config.KeyID != 9 || keys[1].Config.KeyID != 7 {
		t.Fatalf("%d keys, %v", len(keys), err)
	}
	if _, err := ReadAll([]string{a, c}); err == nil || !strings.Contains(err.Error(), "share key id 7") {
		t.Errorf("duplicate ids: %v", err)
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, MaxBytes+1), 0o600)
	for _, p := range []string{big, filepath.Join(dir, "missing")} {
		if _, err := Read(p); err == nil {
			t.Errorf("%s accepted", p)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	k := genKey(t, 1, ohttp.KEMX25519)
	cfg, _ := k.Config.MarshalBinary()
	for name, data := range map[string]string{
		"no magic":       "hello\n",
		"config not hex": Magic + "\nconfig zz\nsecret 00\n",
		"no secret":      Magic + "\nconfig " + hex.EncodeToString(cfg) + "\n",
		"unknown line":   Magic + "\nconfig " + hex.EncodeToString(cfg) + "\nsecrets 00\n",
	} {
		if _, err := Parse([]byte(data)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParseMismatch(t *testing.T) {
	// A secret that does not belong to the config is refused.
	k1 := genKey(t, 1, ohttp.KEMX25519)
	k2 := genKey(t, 1, ohttp.KEMX25519)
	cfg, _ := k1.Config.MarshalBinary()
	data := Magic + "\nconfig " + hex.EncodeToString(cfg) + "\nsecret " + hex.EncodeToString(k2.Secret()) + "\n"
	if _, err := Parse([]byte(data)); err == nil {
		t.Error("mismatched secret accepted")
	}
}

func TestParseErrorHidesContents(t *testing.T) {
	// A secret line separated by a tab is not understood; the error must
	// not echo it, since key file contents are secret.
	k := genKey(t, 1, ohttp.KEMX25519)
	cfg, _ := k.Config.MarshalBinary()
	secret := hex.EncodeToString(k.Secret())
	data := Magic + "\nconfig " + hex.EncodeToString(cfg) + "\nsecret\t" + secret + "\n"
	_, err := Parse([]byte(data))
	if err == nil {
		t.Fatal("malformed key file accepted")
	}
	if strings.Contains(err.Error(), secret[:16]) {
		t.Errorf("error quotes the secret: %v", err)
	}
}
