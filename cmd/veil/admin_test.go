package main

import (
	"bytes"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// runVeilErr runs the root command in process and returns stdout and the
// error main would print.
func runVeilErr(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestAdminHelpListsCommands(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"admin", "--help"}, []string{"schemas", "keys", "aggregates", "stats", "--admin", "--token-file", "--json"}},
		{[]string{"admin", "schemas", "--help"}, []string{"register", "list", "get"}},
		{[]string{"admin", "keys", "--help"}, []string{"list", "rotate", "retire", "pin"}},
		{[]string{"admin", "keys", "pin", "--help"}, []string{"list", "add", "promote", "Config.KeyPin", "--key-pin"}},
		{[]string{"admin", "keys", "rotate", "--help"}, []string{"--kem"}},
		{[]string{"admin", "aggregates", "--help"}, []string{"--schema", "--version", "--group-by", "--from", "--to", "--bucket"}},
		{[]string{"admin", "stats", "--help"}, []string{"--from", "--to"}},
	} {
		out, _, code := runVeil(t, "", tc.args...)
		if code != 0 {
			t.Errorf("veil %s: exit %d", strings.Join(tc.args, " "), code)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("veil %s does not list %s:\n%s", strings.Join(tc.args, " "), w, out)
			}
		}
	}
}

// TestAdminFlagPlacement: --admin and --token-file are taken before or
// after the subcommand. Nothing listens on the address, so the error names
// it, which shows the flag arrived.
func TestAdminFlagPlacement(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	tok := writeFile(t, "tok", "admin-cmd-test-token-0123456789\n")
	for _, args := range [][]string{
		{"admin", "--admin", addr, "--token-file", tok, "keys", "list"},
		{"admin", "keys", "list", "--admin", addr, "--token-file", tok},
		{"admin", "--token-file", tok, "stats", "--admin", addr},
	} {
		_, err := runVeilErr(t, args...)
		if ee, ok := err.(*exitError); !ok || ee.code != 1 || !strings.Contains(err.Error(), addr) {
			t.Errorf("veil %s: %v", strings.Join(args, " "), err)
		}
	}
}

func TestAdminTokenFileSources(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "from-env")
	t.Setenv("VEIL_ADMIN_TOKEN_FILE", missing)
	if _, err := runVeilErr(t, "admin", "keys", "list"); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("env: %v", err)
	}
	flag := filepath.Join(dir, "from-flag")
	if _, err := runVeilErr(t, "admin", "keys", "list", "--token-file", flag); err == nil || !strings.Contains(err.Error(), flag) {
		t.Errorf("flag over env: %v", err)
	}
	t.Setenv("VEIL_ADMIN_TOKEN_FILE", "")
	dataDir := filepath.Join(dir, "data")
	want := filepath.Join(dataDir, "admin-token")
	if _, err := runVeilErr(t, "admin", "--data-dir", dataDir, "keys", "list"); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("data dir: %v", err)
	}
}

func TestAdminUsageErrors(t *testing.T) {
	tok := writeFile(t, "tok", "admin-cmd-test-token-0123456789\n")
	for _, args := range [][]string{
		{"admin", "aggregates", "--schema", "a", "--version", "1", "--from", "yesterday"},
		{"admin", "stats", "--to", "tomorrow"},
		{"admin", "keys", "retire", "x"},
		{"admin", "schemas", "get", "a", "one"},
		{"admin", "--admin", "no-port", "keys", "list"},
		{"admin", "schemas", "register"},
	} {
		_, _, code := runVeil(t, "", append(args, "--token-file", tok)...)
		if code != 2 {
			t.Errorf("veil %s: exit %d, want 2", strings.Join(args, " "), code)
		}
	}
}
