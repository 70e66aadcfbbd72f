package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func parseRelay(t *testing.T, args []string, env map[string]string) (Relay, error) {
	t.Helper()
	c := DefaultRelay()
	fs := pflag.NewFlagSet("relay", pflag.ContinueOnError)
	c.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if err := Load(fs, func(k string) string { return env[k] }); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// TestRelayConfigLoadsLikeServe: the relay reads flags, VEIL_ variables
// and a --config file with serve's precedence.
func TestRelayConfigLoadsLikeServe(t *testing.T) {
	file := filepath.Join(t.TempDir(), "relay.conf")
	os.WriteFile(file, []byte("gateway = http://127.0.0.1:8080/gateway\nburst = 5\nrate = 2\n"), 0o600)
	c, err := parseRelay(t, []string{"--config", file, "--rate", "7"}, map[string]string{"VEIL_BURST": "9", "VEIL_MEMORY_LIMIT": "1GiB"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Gateways, []string{"http://127.0.0.1:8080/gateway"}) || c.Rate != 7 || c.Burst != 9 || c.MemoryLimit != 1<<30 {
		t.Fatalf("%+v", c)
	}
	c, err = parseRelay(t, nil, map[string]string{"VEIL_CONFIG": file})
	if err != nil || c.Burst != 5 {
		t.Fatalf("config from the environment: %+v %v", c, err)
	}
	d := DefaultRelay()
	if d.MaxInFlight != 256 || d.MemoryLimit != 384<<20 || d.ShutdownTimeout != 30*time.Second || d.Listen != "127.0.0.1:8082" {
		t.Errorf("defaults %+v", d)
	}
}

func TestRelayConfigRefusesBadValues(t *testing.T) {
	gw := []string{"--gateway", "http://127.0.0.1:1/gateway"}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no gateway", nil, nil, "--gateway is required"},
		{"half tls", append(gw, "--tls-cert", "cert.pem"), nil, "--tls-key"},
		{"half client cert", append(gw, "--client-cert", "relay.pem"), nil, "--client-cert and --client-key go together"},
		{"proxy protocol alone", append(gw, "--proxy-protocol"), nil, "--proxy-protocol needs --trusted-proxies"},
		{"bad proxy", append(gw, "--trusted-proxies", "lb.internal"), nil, "--trusted-proxies"},
		{"gateway twice", append(gw, "--gateway", "http://127.0.0.1:1/gateway"), nil, "given twice"},
		{"zero rate", append(gw, "--rate", "0"), nil, "--rate"},
		{"negative inflight", append(gw, "--max-inflight", "-1"), nil, "--max-inflight"},
		{"tiny memory limit", append(gw, "--memory-limit", "1MiB"), nil, "--memory-limit"},
		{"bad env", gw, map[string]string{"VEIL_UPSTREAM_TIMEOUT": "soon"}, "VEIL_UPSTREAM_TIMEOUT"},
		{"serve's setting in the file", append(gw, "--config", writeFile(t, "k-anonymity = 3\n")), nil, "unknown setting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseRelay(t, tc.args, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want mention of %q", err, tc.want)
			}
		})
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f.conf")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBenchNoopInnerLoopbackOnly: the switch that stops ingesting is
// refused unless both listeners are loopback.
func TestBenchNoopInnerLoopbackOnly(t *testing.T) {
	if _, err := parseServe(t, []string{"--bench-noop-inner"}, nil); err != nil {
		t.Errorf("loopback listeners: %v", err)
	}
	if _, err := parseServe(t, []string{"--bench-noop-inner", "--listen", "[::1]:9000", "--admin-listen", "localhost:9001"}, nil); err != nil {
		t.Errorf("other loopback spellings: %v", err)
	}
	for _, args := range [][]string{
		{"--bench-noop-inner", "--listen", "0.0.0.0:8080"},
		{"--bench-noop-inner", "--listen", ":8080"},
		{"--bench-noop-inner", "--admin-listen", "10.0.0.5:8081"},
	} {
		if _, err := parseServe(t, args, nil); err == nil || !strings.Contains(err.Error(), "--bench-noop-inner") {
			t.Errorf("%v: %v", args, err)
		}
	}
	if _, err := parseServe(t, nil, map[string]string{"VEIL_BENCH_NOOP_INNER": "true", "VEIL_LISTEN": "192.0.2.1:80"}); err == nil {
		t.Error("from the environment, on a public address: accepted")
	}
}

func TestReadSecretLine(t *testing.T) {
	if v, err := ReadSecretLine(writeFile(t, "  s3cret  \nsecond\n")); err != nil || v != "s3cret" {
		t.Errorf("%q %v", v, err)
	}
	for _, body := range []string{"", "\n\n"} {
		if _, err := ReadSecretLine(writeFile(t, body)); err == nil {
			t.Errorf("%q accepted", body)
		}
	}
}

// TestServerConfigs: each command's listener settings follow its flags.
func TestServerConfigs(t *testing.T) {
	r, err := parseRelay(t, []string{"--gateway", "http://127.0.0.1:1/gateway", "--upstream-timeout", "20s", "--shutdown-timeout", "3s"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rs := r.ServerConfig()
	if rs.WriteTimeout != 20*time.Second+relayWriteSlack || rs.MaxHeaderBytes != relayMaxHeaderBytes || rs.ShutdownTimeout != 3*time.Second || rs.UnencryptedHTTP2 {
		t.Errorf("relay %+v", rs)
	}
	s, err := parseServe(t, []string{"--read-header-timeout", "2s", "--shutdown-timeout", "4s"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ss := s.ServerConfig()
	if ss.ReadHeaderTimeout != 2*time.Second || ss.ShutdownTimeout != 4*time.Second || !ss.UnencryptedHTTP2 {
		t.Errorf("serve %+v", ss)
	}
}

// TestRelayGateways: --gateway repeats, or takes a comma-separated list
// (from the environment too).
func TestRelayGateways(t *testing.T) {
	want := []string{"https://a.example/gateway", "https://b.example/gateway"}
	c, err := parseRelay(t, []string{"--gateway", want[0], "--gateway", want[1]}, nil)
	if err != nil || !slices.Equal(c.Gateways, want) {
		t.Errorf("repeated: %v %v", c.Gateways, err)
	}
	c, err = parseRelay(t, nil, map[string]string{"VEIL_GATEWAY": want[0] + "," + want[1]})
	if err != nil || !slices.Equal(c.Gateways, want) {
		t.Errorf("from the environment: %v %v", c.Gateways, err)
	}
}

func TestRelayTrustedProxies(t *testing.T) {
	c, err := parseRelay(t, []string{"--gateway", "http://127.0.0.1:1/gateway", "--trusted-proxies", "10.0.0.0/8,192.0.2.1", "--proxy-protocol"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32")}
	if !slices.Equal(c.TrustedProxyPrefixes(), want) || !c.ProxyProtocol {
		t.Errorf("%v %v", c.TrustedProxyPrefixes(), c.ProxyProtocol)
	}
}
