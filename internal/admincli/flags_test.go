package admincli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestFlags: veil admin's flags default as documented and Run finds the
// token the way TokenFile does, calls fn once on a CLI writing to out, and
// passes fn's error back.
func TestFlags(t *testing.T) {
	parse := func(args []string, env map[string]string) *Flags {
		t.Helper()
		var fl Flags
		fs := pflag.NewFlagSet("admin", pflag.ContinueOnError)
		fl.BindFlags(fs, func(k string) string { return env[k] })
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return &fl
	}
	fl := parse(nil, nil)
	if fl.Addr != DefaultAddr || fl.DataDir != DefaultDataDir || fl.Timeout != DefaultTimeout || fl.JSON || fl.TokenFile != "" {
		t.Errorf("defaults: %+v", fl)
	}
	if fl := parse(nil, map[string]string{"VEIL_DATA_DIR": "/srv/veil"}); fl.DataDir != "/srv/veil" {
		t.Errorf("VEIL_DATA_DIR: data dir %q", fl.DataDir)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, TokenFileName), []byte("admin-flags-test-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	errFn := errors.New("from fn")
	var out bytes.Buffer
	calls := 0
	run := func(args []string, env map[string]string) error {
		return parse(args, nil).Run(&out, func(k string) string { return env[k] }, func(c *CLI) error {
			calls++
			if c.cfg.Out != &out {
				t.Error("the CLI does not write to out")
			}
			return errFn
		})
	}
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
	}{
		"data dir":   {[]string{"--data-dir", dir}, nil},
		"token file": {[]string{"--token-file", filepath.Join(dir, TokenFileName)}, nil},
		"env":        {nil, map[string]string{"VEIL_ADMIN_TOKEN_FILE": filepath.Join(dir, TokenFileName)}},
	} {
		calls = 0
		if err := run(tc.args, tc.env); !errors.Is(err, errFn) || calls != 1 {
			t.Errorf("%s: error %v after %d calls, want fn's after 1", name, err, calls)
		}
	}
	calls = 0
	err := run([]string{"--data-dir", t.TempDir()}, nil)
	if err == nil || calls != 0 || !strings.Contains(err.Error(), "--token-file") {
		t.Errorf("no token: error %v after %d calls", err, calls)
	}
}
