package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The behaviour of `veil send` is tested in internal/send; these tests
// check that the command's flags reach it.

func TestSendUsage(t *testing.T) {
	for _, args := range [][]string{
		{"send", "--schema", "a", "--schema-version", "1"},
		{"send", "--relay", "https://r.example/", "--schema", "a"},
		{"send", "--relay", "https://r.example/", "--schema-version", "1"},
		{"send", "--relay", "https://r.example/", "--schema", "a", "--schema-version", "1", "--fields", "[1]"},
		{"send", "--relay", "https://r.example/", "--schema", "a", "--schema-version", "1", "--fields", "{"},
		{"send", "--relay", "https://r.example/", "--schema", "a", "--schema-version", "1", "events.jsonl"},
		{"send", "--relay", "not a url", "--schema", "a", "--schema-version", "1"},
		{"send", "--relay", "https://r.example/", "missing-file.jsonl"},
		{"send", "--relay", "https://r.example/", "--schema", "a", "--schema-version", "1", "--timeout", "0s"},
	} {
		if _, _, code := runVeil(t, "", args...); code != 2 {
			t.Errorf("veil %s: exit %d, want 2", strings.Join(args, " "), code)
		}
	}
}

// TestSendFlagsWired: --keys-url, --schema, --schema-version and --fields reach
// the run, whose failure keeps its exit status and message.
func TestSendFlagsWired(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetArgs([]string{"send", "--relay", srv.URL + "/gateway", "--keys-url", srv.URL + "/typo/ohttp-keys",
		"--schema", "app.launch", "--schema-version", "1", "--fields", `{"os":"ios"}`})
	cmd.SetIn(strings.NewReader(""))
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err := cmd.ExecuteContext(context.Background())
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("err = %v, want exit 1", err)
	}
	if msg := err.Error(); !strings.Contains(msg, srv.URL+"/typo/ohttp-keys") || !strings.Contains(msg, "HTTP 404") || !strings.Contains(msg, "--keys-url") {
		t.Errorf("message %q, want the key URL, its 404 and --keys-url", msg)
	}
	if want := `{"index":0,"status":"dropped","reason":"closed"}` + "\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}

// TestSendKeyPinFlagsWired: --key-pin makes the run fetch the signed key
// document; --insecure-no-key-pin and --insecure-http reach the SDK.
func TestSendKeyPinFlagsWired(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	const pin = "veil-pin-ed25519:A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"
	_, _, code := runVeil(t, "", "send", "--relay", srv.URL+"/gateway", "--key-pin", pin, "--schema", "app.launch", "--schema-version", "1")
	if code != 1 {
		t.Errorf("--key-pin against a relay without signed keys: exit %d, want 1", code)
	}
	cmd := newRootCmd()
	cmd.SetArgs([]string{"send", "--relay", srv.URL + "/gateway", "--key-pin", pin, "--schema", "app.launch", "--schema-version", "1"})
	cmd.SetIn(strings.NewReader(""))
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	if err := cmd.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), srv.URL+"/ohttp-keys-signed") {
		t.Errorf("--key-pin: %v; want the signed key URL", err)
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--relay", "https://relay.invalid/gateway"}, 2},
		{[]string{"--relay", "http://relay.invalid/gateway", "--key-pin", pin}, 2},
		// Past the checks, the name does not resolve: exit 1, not 2.
		{[]string{"--relay", "https://relay.invalid/gateway", "--insecure-no-key-pin", "--timeout", "20s"}, 1},
		{[]string{"--relay", "http://relay.invalid/gateway", "--key-pin", pin, "--insecure-http", "--timeout", "20s"}, 1},
	} {
		args := append([]string{"send", "--schema", "app.launch", "--schema-version", "1"}, tc.args...)
		if _, _, code := runVeil(t, "", args...); code != tc.code {
			t.Errorf("veil %s: exit %d, want %d", strings.Join(args, " "), code, tc.code)
		}
	}
}
