package main

import (
	"runtime"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	out, _, code := runVeil(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "veil ") || !strings.Contains(out, "\nmodule   github.com/veil-telemetry/veil\n") ||
		!strings.Contains(out, "\nrevision ") || !strings.Contains(out, "\ngo       "+runtime.Version()) {
		t.Errorf("veil version: exit %d\n%s", code, out)
	}
	flag, _, code := runVeil(t, "", "--version")
	if code != 0 || flag != out {
		t.Errorf("veil --version: exit %d\n%s\nwant\n%s", code, flag, out)
	}
}

// TestSendSchemaVersionFlag: send's schema version is --schema-version;
// --version still sets it, deprecated, and is not the root's --version.
func TestSendSchemaVersionFlag(t *testing.T) {
	cmd := newSendCmd()
	if err := cmd.ParseFlags([]string{"--schema-version", "3"}); err != nil {
		t.Fatal(err)
	}
	if v := cmd.Flags().Lookup("version"); v == nil || v.Value.String() != "3" || v.Deprecated == "" || !strings.Contains(v.Deprecated, "--schema-version") {
		t.Errorf("--version: %+v", v)
	}
	out, stderr, code := runVeil(t, "", "send", "--schema", "a", "--version", "1")
	if code != 2 || strings.Contains(out, "module") || !strings.Contains(stderr, "--schema-version") {
		t.Errorf("send --version: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}
