package keyfile

import (
	"bytes"
	"encoding/hex"
	"errors"
	"github.com/veil-telemetry/veil/ohttp"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// runKeys calls the command function args[0] names with the flags that
// follow, as veil keys would.
func runKeys(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	o := GenerateOptions{KEM: "x25519", Suites: DefaultSuites}
	var keys []string
	raw, suiteSet := false, false
	for i := 1; i < len(args); i++ {
		switch args[i] {
		case "--raw":
			raw = true
			continue
		case "--id":
			n, err := strconv.ParseUint(args[i+1], 10, 8)
			if err != nil {
				return "", err
			}
			o.ID = uint8(n)
		case "--kem":
			o.KEM = args[i+1]
		case "--out":
			o.Out = args[i+1]
		case "--key":
			keys = append(keys, args[i+1])
		case "--suite":
			if !suiteSet {
				o.Suites, suiteSet = nil, true
			}
			o.Suites = append(o.Suites, args[i+1])
		default:
			t.Fatalf("runKeys: unknown flag %s", args[i])
		}
		i++
	}
	var err error
	switch args[0] {
	case "generate":
		err = Generate(&out, o)
	case "config":
		err = WriteConfigs(&out, keys, raw)
	case "list":
		err = WriteList(&out, keys)
	default:
		t.Fatalf("runKeys: unknown command %s", args[0])
	}
	return out.String(), err
}

func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		kem  string
		id   uint8
		want ohttp.KEMID
	}{
		{"x25519", 1, ohttp.KEMX25519},
		{"xwing", 2, ohttp.KEMXWing},
		{"p256", 3, ohttp.KEMP256},
		{"x25519kyber768", 4, ohttp.KEMX25519Kyber768},
	} {
		t.Run(tc.kem, func(t *testing.T) {
			path := filepath.Join(dir, tc.kem+".key")
			out, err := runKeys(t, "generate", "--kem", tc.kem, "--id", string(rune('0'+tc.id)), "--out", path)
			if err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("mode %v", st.Mode().Perm())
			}
			cfgBytes, err := hex.DecodeString(strings.TrimSpace(out))
			if err != nil {
				t.Fatalf("output %q: %v", out, err)
			}
			cfg, err := ohttp.ParseKeyConfig(cfgBytes)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.KeyID != tc.id || cfg.KEM != tc.want || len(cfg.Suites) != 2 {
				t.Errorf("config %d %v %d suites", cfg.KeyID, cfg.KEM, len(cfg.Suites))
			}
			// The file round-trips to a key that decrypts for that config.
			key, err := Read(path)
			if err != nil {
				t.Fatal(err)
			}
			enc, _, err := ohttp.EncapsulateRequest(nil, cfg, ohttp.DefaultSuite, []byte("hello"))
			if err != nil {
				t.Fatal(err)
			}
			req, err := ohttp.ParseEncapsulatedRequest(enc)
			if err != nil {
				t.Fatal(err)
			}
			if pt, _, err := key.DecapsulateRequest(req); err != nil || string(pt) != "hello" {
				t.Errorf("decapsulate with the file's key: %q %v", pt, err)
			}
			// Never overwritten.
			if _, err := runKeys(t, "generate", "--kem", tc.kem, "--out", path); err == nil {
				t.Error("overwrote an existing key file")
			}
		})
	}
}

func TestGenerateOptions(t *testing.T) {
	dir := t.TempDir()
	for name, args := range map[string][]string{
		"bad kem":   {"generate", "--kem", "rsa", "--out", filepath.Join(dir, "a")},
		"no out":    {"generate", "--kem", "x25519"},
		"bad suite": {"generate", "--out", filepath.Join(dir, "b"), "--suite", "sha1/des"},
	} {
		var ue *UsageError
		if _, err := runKeys(t, args...); !errors.As(err, &ue) || !strings.HasPrefix(err.Error(), "keys: ") {
			t.Errorf("%s: error %v, want a *UsageError", name, err)
		}
	}
	path := filepath.Join(dir, "suite.key")
	out, err := runKeys(t, "generate", "--out", path, "--suite", "hkdf-sha384/aes-256-gcm")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := hex.DecodeString(strings.TrimSpace(out))
	cfg, err := ohttp.ParseKeyConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Suites) != 1 || cfg.Suites[0] != (ohttp.SymmetricSuite{KDF: ohttp.KDFHKDFSHA384, AEAD: ohttp.AEADAES256GCM}) {
		t.Errorf("suites %v", cfg.Suites)
	}
}

func TestWriteConfigsAndList(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.key"), filepath.Join(dir, "b.key")
	outA, err := runKeys(t, "generate", "--kem", "x25519", "--id", "7", "--out", a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runKeys(t, "generate", "--kem", "xwing", "--id", "9", "--out", b); err != nil {
		t.Fatal(err)
	}

	hexOut, err := runKeys(t, "config", "--key", a, "--key", b)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := hex.DecodeString(strings.TrimSpace(hexOut))
	if err != nil {
		t.Fatal(err)
	}
	cfgs, err := ohttp.ParseKeyConfigs(doc)
	if err != nil || len(cfgs) != 2 || cfgs[0].KeyID != 7 || cfgs[1].KeyID != 9 {
		t.Fatalf("config list: %v %d", err, len(cfgs))
	}
	first, _ := cfgs[0].MarshalBinary()
	if hex.EncodeToString(first) != strings.TrimSpace(outA) {
		t.Error("config differs from what generate printed")
	}
	raw, err := runKeys(t, "config", "--raw", "--key", a, "--key", b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal([]byte(raw), doc) {
		t.Error("--raw differs from hex")
	}

	list, err := runKeys(t, "list", "--key", a, "--key", b)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "7 ") || !strings.Contains(lines[1], "0x0020") ||
		!strings.Contains(lines[1], "HKDF-SHA256/AES-128-GCM") || !strings.HasPrefix(lines[2], "9 ") || !strings.Contains(lines[2], "0x647a") {
		t.Errorf("list:\n%s", list)
	}
	secretFile, _ := os.ReadFile(a)
	if strings.Contains(list+hexOut, strings.TrimSpace(strings.Split(string(secretFile), "secret ")[1])) {
		t.Error("secret printed")
	}

	// Errors: no keys, duplicate ids, a damaged file, a missing file.
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte("veil-ohttp-key v1\nconfig zz\nsecret 00\n"), 0o600)
	other := filepath.Join(dir, "other.key")
	os.WriteFile(other, []byte("hello\n"), 0o600)
	for name, args := range map[string][]string{
		"no key":       {"config"},
		"duplicate id": {"list", "--key", a, "--key", a},
		"damaged":      {"config", "--key", bad},
		"not a key":    {"list", "--key", other},
		"missing":      {"list", "--key", filepath.Join(dir, "none")},
	} {
		if _, err := runKeys(t, args...); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
