package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func parseMigrate(t *testing.T, args []string, env map[string]string) (Migrate, error) {
	t.Helper()
	var c Migrate
	fs := pflag.NewFlagSet("migrate", pflag.ContinueOnError)
	c.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	return c, c.Load(fs, func(k string) string { return env[k] })
}

// TestMigrateConfig: veil migrate's database comes from a flag, else
// VEIL_*, with the URL possibly in a file; the managed PostgreSQL under
// the default data directory when no URL is given.
func TestMigrateConfig(t *testing.T) {
	const u = "postgres://owner:s3cret@db.example:5432/veil"
	file := filepath.Join(t.TempDir(), "db-url")
	if err := os.WriteFile(file, []byte(u+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parseMigrate(t, nil, nil)
	if err != nil || c.DatabaseURL != "" || c.DataDir != DefaultDataDir {
		t.Errorf("defaults: %+v %v", c, err)
	}
	c, err = parseMigrate(t, []string{"--data-dir", "flag-dir"}, map[string]string{"VEIL_DATA_DIR": "env-dir", "VEIL_DATABASE_URL": u})
	if err != nil || c.DataDir != "flag-dir" || c.DatabaseURL != u {
		t.Errorf("flag over env: %+v %v", c, err)
	}
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
	}{
		"flag": {[]string{"--database-url-file", file}, nil},
		"env":  {nil, map[string]string{"VEIL_DATABASE_URL_FILE": file}},
	} {
		c, err := parseMigrate(t, tc.args, tc.env)
		if err != nil || c.DatabaseURL != u {
			t.Errorf("%s: URL from file %q %v", name, c.DatabaseURL, err)
		}
	}
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"both":         {[]string{"--database-url-file", file, "--database-url", u}, nil, "exclude each other"},
		"both via env": {[]string{"--database-url-file", file}, map[string]string{"VEIL_DATABASE_URL": u}, "exclude each other"},
		"missing file": {[]string{"--database-url-file", filepath.Join(t.TempDir(), "none")}, nil, "migrate: --database-url-file: "},
		"nothing":      {[]string{"--data-dir", ""}, nil, "give --database-url or --data-dir"},
	} {
		_, err := parseMigrate(t, tc.args, tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: error %v, want one saying %q", name, err, tc.want)
		}
	}
}
