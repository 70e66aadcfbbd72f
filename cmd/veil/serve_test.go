package main

import "testing"

func TestNewServeCmdHasFlags(t *testing.T) {
	cmd := newServeCmd()
	for _, name := range []string{"config", "data-dir", "database-url", "listen", "admin-listen", "admin-token-file",
		"tls-cert", "tls-key", "k-anonymity", "key-rotation", "key-grace", "bench-noop-inner", "max-inflight", "memory-limit"} {
		if cmd.Flags().Lookup(name) == nil {
			t.Errorf("no --%s", name)
		}
	}
}
