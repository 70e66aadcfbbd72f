package config

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestServeRelayAccess: --relay-allow takes CIDRs and addresses (from the
// environment too), refuses anything else; --relay-client-ca needs TLS;
// the bypass warning is due only on a non-loopback listener without
// either.
func TestServeRelayAccess(t *testing.T) {
	c, err := parseServe(t, []string{"--relay-allow", "10.0.0.0/8, 192.0.2.7,2001:db8::/32", "--listen", "0.0.0.0:8080"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::/32")}
	if a := c.RelayAccess(); !slices.Equal(a.Allow, want) || a.ClientCert || !a.Restricted() || c.RelayBypassable() {
		t.Errorf("access %+v, bypassable %v", a, c.RelayBypassable())
	}
	c, err = parseServe(t, nil, map[string]string{"VEIL_RELAY_ALLOW": "::ffff:10.1.2.3,::ffff:10.0.0.0/104"})
	if err != nil {
		t.Fatal(err)
	}
	want = []netip.Prefix{netip.MustParsePrefix("10.1.2.3/32"), netip.MustParsePrefix("10.0.0.0/8")}
	if a := c.RelayAccess(); !slices.Equal(a.Allow, want) {
		t.Errorf("IPv4-mapped: %v", a.Allow)
	}
	for _, bad := range []string{"10.0.0.0/33", "relay.example", "10.0.0.0/8/1", "fe80::1%eth0", "0.0.0.0/0", "::/0"} {
		if _, err := parseServe(t, []string{"--relay-allow", bad}, nil); err == nil || !strings.Contains(err.Error(), "--relay-allow") {
			t.Errorf("--relay-allow %q: %v", bad, err)
		}
	}
	if _, err := parseServe(t, []string{"--relay-client-ca", "ca.pem"}, nil); err == nil || !strings.Contains(err.Error(), "--relay-client-ca needs --tls-cert") {
		t.Errorf("--relay-client-ca without TLS: %v", err)
	}
	c, err = parseServe(t, []string{"--relay-client-ca", "ca.pem", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--listen", ":8080"}, nil)
	if err != nil || !c.RelayAccess().ClientCert || c.RelayBypassable() {
		t.Errorf("--relay-client-ca: %+v %v", c.RelayAccess(), err)
	}
	for listen, bypass := range map[string]bool{"127.0.0.1:8080": false, "[::1]:8080": false, "localhost:8080": false, ":8080": true, "0.0.0.0:8080": true, "10.0.0.5:8080": true} {
		c, err := parseServe(t, []string{"--listen", listen}, nil)
		if err != nil || c.RelayBypassable() != bypass {
			t.Errorf("--listen %s: bypassable %v, want %v (%v)", listen, c.RelayBypassable(), bypass, err)
		}
	}
}

func TestServeDatabaseWait(t *testing.T) {
	c, err := parseServe(t, nil, nil)
	if err != nil || c.DatabaseWait != time.Minute {
		t.Fatalf("default --database-wait %v (%v)", c.DatabaseWait, err)
	}
	c, err = parseServe(t, []string{"--database-wait", "0"}, nil)
	if err != nil || c.DatabaseWait != 0 {
		t.Errorf("--database-wait 0: %v %v", c.DatabaseWait, err)
	}
	for _, bad := range []string{"-1s", "2h"} {
		if _, err := parseServe(t, []string{"--database-wait", bad}, nil); err == nil || !strings.Contains(err.Error(), "--database-wait") {
			t.Errorf("--database-wait %s: %v", bad, err)
		}
	}
}
