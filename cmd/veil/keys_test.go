package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/veil-telemetry/veil/ohttp"
)

func runKeys(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newKeysCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// TestKeysCommand checks the wiring of veil keys' flags to internal/keyfile,
// which tests the commands themselves.
func TestKeysCommand(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.key")
	out, err := runKeys(t, "generate", "--kem", "xwing", "--id", "7", "--out", a, "--suite", "hkdf-sha384/aes-256-gcm")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := hex.DecodeString(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	c, err := ohttp.ParseKeyConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.KeyID != 7 || c.KEM != ohttp.KEMXWing || len(c.Suites) != 1 || c.Suites[0] != (ohttp.SymmetricSuite{KDF: ohttp.KDFHKDFSHA384, AEAD: ohttp.AEADAES256GCM}) {
		t.Errorf("config %d %v %v", c.KeyID, c.KEM, c.Suites)
	}
	if st, err := os.Stat(a); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", st, err)
	}
	// The default KEM and suites.
	b := filepath.Join(dir, "b.key")
	out, err = runKeys(t, "generate", "--out", b)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, _ := hex.DecodeString(strings.TrimSpace(out)); len(cfg) < 3 || ohttp.KEMID(uint16(cfg[1])<<8|uint16(cfg[2])) != ohttp.KEMX25519 {
		t.Errorf("default KEM: config %x", cfg)
	}
	hexOut, err := runKeys(t, "config", "--key", a, "--key", b)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := runKeys(t, "config", "--raw", "--key", a, "--key", b)
	if err != nil {
		t.Fatal(err)
	}
	if doc, _ := hex.DecodeString(strings.TrimSpace(hexOut)); len(doc) == 0 || !bytes.Equal([]byte(raw), doc) {
		t.Errorf("--raw differs from hex")
	}
	list, err := runKeys(t, "list", "--key", a, "--key", b)
	if lines := strings.Split(strings.TrimSpace(list), "\n"); err != nil || len(lines) != 3 || !strings.HasPrefix(lines[1], "7 ") {
		t.Errorf("list: %v\n%s", err, list)
	}

	// Usage errors exit 2; a flag value out of range is refused by the flag.
	for name, args := range map[string][]string{
		"bad kem": {"generate", "--kem", "rsa", "--out", filepath.Join(dir, "c")},
		"no key":  {"list"},
	} {
		var ee *exitError
		if _, err := runKeys(t, args...); !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("%s: error %v, want exit status 2", name, err)
		}
	}
	if _, err := runKeys(t, "generate", "--id", "256", "--out", filepath.Join(dir, "d")); err == nil {
		t.Error("id too big: no error")
	}
	if _, err := runKeys(t, "list", "--key", filepath.Join(dir, "none")); err == nil {
		t.Error("missing key file: no error")
	}
}
