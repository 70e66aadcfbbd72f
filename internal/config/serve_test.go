package config

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// parseServe runs the serve configuration pipeline: flags, then the
// environment, then the config file, then validation.
func parseServe(t *testing.T, args []string, env map[string]string) (Serve, error) {
	t.Helper()
	c := DefaultServe()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	c.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if err := Load(fs, func(k string) string { return env[k] }); err != nil {
		return c, err
	}
	return c, c.Validate()
}

func TestServeConfigDefaults(t *testing.T) {
	c, err := parseServe(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8080" || c.AdminListen != "127.0.0.1:8081" || c.DataDir != "veil-data" ||
		c.KAnonymity != 10 || c.KeyRotation != 30*24*time.Hour || c.KeyGrace != 7*24*time.Hour ||
		c.DatabaseURL != "" || c.MasterKeyFile != filepath.Join("veil-data", "master.key") {
		t.Fatalf("%+v", c)
	}
}

func TestServeConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "veil.conf")
	os.WriteFile(file, []byte("# veil\nk-anonymity = 20\nlisten = 127.0.0.1:9000\nlog-level = \"debug\"\n"), 0o600)
	c, err := parseServe(t, []string{"--config", file, "--listen", "127.0.0.1:9100"},
		map[string]string{"VEIL_K_ANONYMITY": "30", "VEIL_DATA_DIR": "/srv/veil"})
	if err != nil {
		t.Fatal(err)
	}
	// Flag beats env beats file.
	if c.Listen != "127.0.0.1:9100" || c.KAnonymity != 30 || c.LogLevel != "debug" || c.DataDir != "/srv/veil" {
		t.Fatalf("%+v", c)
	}
	// The config file may come from the environment too.
	c, err = parseServe(t, nil, map[string]string{"VEIL_CONFIG": file})
	if err != nil || c.KAnonymity != 20 {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestServeConfigRefusesBadValues(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"k below 2", []string{"--k-anonymity", "1"}, nil, "--k-anonymity"},
		{"k from env", nil, map[string]string{"VEIL_K_ANONYMITY": "ten"}, "VEIL_K_ANONYMITY"},
		{"same listeners", []string{"--admin-listen", "127.0.0.1:8080"}, nil, "must differ"},
		{"bad listen", []string{"--listen", "8080"}, nil, "--listen"},
		{"tls half", []string{"--tls-cert", "c.pem"}, nil, "--tls-key"},
		{"unknown kem", []string{"--kems", "x25519,rsa"}, nil, "rsa"},
		{"short rotation", []string{"--key-rotation", "10m"}, nil, "--key-rotation"},
		{"log level", []string{"--log-level", "loud"}, nil, "--log-level"},
		{"unknown file key", []string{"--config", write("a.conf", "k_anonymity = 3\n")}, nil, "unknown setting"},
		{"file syntax", []string{"--config", write("b.conf", "k-anonymity 3\n")}, nil, "name = value"},
		{"file value", []string{"--config", write("c.conf", "key-grace = soon\n")}, nil, "key-grace"},
		{"missing file", []string{"--config", filepath.Join(dir, "none.conf")}, nil, "config file"},
		{"zero in flight", []string{"--max-inflight", "0"}, nil, "--max-inflight"},
		{"tiny memory limit", []string{"--memory-limit", "1MiB"}, nil, "--memory-limit"},
		{"memory limit syntax", nil, map[string]string{"VEIL_MEMORY_LIMIT": "lots"}, "VEIL_MEMORY_LIMIT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseServe(t, tc.args, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want mention of %q", err, tc.want)
			}
		})
	}
}

// TestServeReadHeaderTimeout: --read-header-timeout (flag, VEIL_ env or
// file) reaches both listeners' servers; the fault tests use it to cut
// slow-loris clients in about a second.
func TestServeReadHeaderTimeout(t *testing.T) {
	c, err := parseServe(t, nil, nil)
	if err != nil || c.ReadHeaderTimeout != 5*time.Second {
		t.Fatalf("default %v %v", c.ReadHeaderTimeout, err)
	}
	c, err = parseServe(t, []string{"--read-header-timeout", "1s"}, nil)
	if err != nil || c.ReadHeaderTimeout != time.Second {
		t.Fatalf("flag %v %v", c.ReadHeaderTimeout, err)
	}
	c, err = parseServe(t, nil, map[string]string{"VEIL_READ_HEADER_TIMEOUT": "750ms"})
	if err != nil || c.ReadHeaderTimeout != 750*time.Millisecond {
		t.Fatalf("env %v %v", c.ReadHeaderTimeout, err)
	}
	for _, bad := range []string{"0s", "10ms", "2m"} {
		if _, err := parseServe(t, []string{"--read-header-timeout", bad}, nil); err == nil || !strings.Contains(err.Error(), "--read-header-timeout") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// TestServeDatabaseURLFile: the database URL (and its password) can come
// from a file instead of argv or the environment.
func TestServeDatabaseURLFile(t *testing.T) {
	const u = "postgres://veil:s3cret@db.example:5432/veil"
	file := filepath.Join(t.TempDir(), "db-url")
	os.WriteFile(file, []byte(u+"\n"), 0o600)
	c, err := parseServe(t, []string{"--database-url-file", file}, nil)
	if err != nil || c.DatabaseURL != u {
		t.Fatalf("%q %v", c.DatabaseURL, err)
	}
	c, err = parseServe(t, nil, map[string]string{"VEIL_DATABASE_URL_FILE": file})
	if err != nil || c.DatabaseURL != u {
		t.Fatalf("env: %q %v", c.DatabaseURL, err)
	}
	_, err = parseServe(t, []string{"--database-url-file", file, "--database-url", u}, nil)
	if err == nil || !strings.Contains(err.Error(), "exclude") {
		t.Errorf("both: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, nil, 0o600)
	for _, p := range []string{empty, filepath.Join(t.TempDir(), "missing")} {
		_, err := parseServe(t, []string{"--database-url-file", p}, nil)
		if err == nil || !strings.Contains(err.Error(), "--database-url-file") {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// TestServeOverloadFlags: --max-inflight and --memory-limit default to the
// measured bounds and take flag, environment and file values.
func TestServeOverloadFlags(t *testing.T) {
	c, err := parseServe(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxInFlight != 256 || c.MemoryLimit != 384<<20 {
		t.Fatalf("defaults: max-inflight %d memory-limit %v", c.MaxInFlight, &c.MemoryLimit)
	}
	c, err = parseServe(t, []string{"--max-inflight", "64"}, map[string]string{"VEIL_MEMORY_LIMIT": "1GiB"})
	if err != nil || c.MaxInFlight != 64 || c.MemoryLimit != 1<<30 {
		t.Fatalf("%d %v %v", c.MaxInFlight, &c.MemoryLimit, err)
	}
	c, err = parseServe(t, []string{"--memory-limit", "0"}, nil)
	if err != nil || c.MemoryLimit != 0 {
		t.Fatalf("%v %v", &c.MemoryLimit, err)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "4096": 4096, "512B": 512, "64KiB": 64 << 10, "384MiB": 384 << 20, "2GiB": 2 << 30,
	} {
		var b ByteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
		var back ByteSize
		if err := back.Set(b.String()); err != nil || back != b {
			t.Errorf("%q does not round-trip through %q", in, b.String())
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1.5GiB", "12 parsecs", "9999999999GiB"} {
		var b ByteSize
		if err := b.Set(in); err == nil {
			t.Errorf("Set(%q) accepted", in)
		}
	}
}

func TestApplyMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	env := func(v string) func(string) string { return func(string) string { return v } }
	ApplyMemoryLimit(200<<20, false, env(""))
	if got := debug.SetMemoryLimit(-1); got != 200<<20 {
		t.Errorf("default applied: %d", got)
	}
	debug.SetMemoryLimit(prev)
	ApplyMemoryLimit(200<<20, false, env("1GiB"))
	if got := debug.SetMemoryLimit(-1); got != prev {
		t.Errorf("GOMEMLIMIT should win over the default: %d", got)
	}
	ApplyMemoryLimit(300<<20, true, env("1GiB"))
	if got := debug.SetMemoryLimit(-1); got != 300<<20 {
		t.Errorf("an explicit flag should win over GOMEMLIMIT: %d", got)
	}
}

// TestServeGCPercent: --gc-percent defaults to 400, takes flag and
// environment values, and refuses off without a memory limit.
func TestServeGCPercent(t *testing.T) {
	c, err := parseServe(t, nil, nil)
	if err != nil || c.GCPercent != 400 {
		t.Fatalf("default: %d %v", c.GCPercent, err)
	}
	c, err = parseServe(t, nil, map[string]string{"VEIL_GC_PERCENT": "-1"})
	if err != nil || c.GCPercent != -1 {
		t.Fatalf("%d %v", c.GCPercent, err)
	}
	for _, args := range [][]string{
		{"--gc-percent", "10"},
		{"--gc-percent", "20000"},
		{"--gc-percent", "-1", "--memory-limit", "0"},
	} {
		if _, err := parseServe(t, args, nil); err == nil || !strings.Contains(err.Error(), "--gc-percent") {
			t.Errorf("%v: %v", args, err)
		}
	}
}

func TestApplyGCPercent(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	env := func(v string) func(string) string { return func(string) string { return v } }
	ApplyGCPercent(400, false, env(""))
	if got := debug.SetGCPercent(100); got != 400 {
		t.Errorf("default applied: %d", got)
	}
	ApplyGCPercent(400, false, env("200"))
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC should win over the default: %d", got)
	}
	ApplyGCPercent(300, true, env("200"))
	if got := debug.SetGCPercent(100); got != 300 {
		t.Errorf("an explicit flag should win over GOGC: %d", got)
	}
}

func TestRelayPolicy(t *testing.T) {
	if got := (Serve{}).RelayPolicy(); len(got) != 0 {
		t.Errorf("no restriction: %q", got)
	}
	got := Serve{RelayAllow: []string{"10.0.0.0/8"}, RelayClientCA: "ca.pem"}.RelayPolicy()
	if len(got) != 2 || got[0] != "10.0.0.0/8" || !strings.Contains(got[1], "client certificate") {
		t.Errorf("policy %q", got)
	}
}
