package config

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"
)

// Migrate is veil migrate's configuration: which database to migrate.
// It takes flags and VEIL_* variables like Serve, but no --config file.
type Migrate struct {
	// DatabaseURL is the owner's URL; empty means the managed PostgreSQL
	// under DataDir.
	DatabaseURL     string
	DatabaseURLFile string
	DataDir         string
}

// BindFlags declares veil migrate's flags on f.
func (c *Migrate) BindFlags(f *pflag.FlagSet) {
	f.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL; empty uses the managed PostgreSQL under --data-dir")
	f.StringVar(&c.DatabaseURLFile, "database-url-file", "", "read --database-url from this `FILE` (first line), keeping its password out of ps and the environment")
	f.StringVar(&c.DataDir, "data-dir", DefaultDataDir, "data directory of the managed PostgreSQL")
}

// Load fills the flags of f (bound by BindFlags) not given on the command
// line from the environment, read through getenv, then reads the URL from
// DatabaseURLFile if set. It refuses a URL given both ways, and neither a
// URL nor a data directory. Its errors start "migrate: ".
func (c *Migrate) Load(f *pflag.FlagSet, getenv func(string) string) error {
	for _, name := range []string{"database-url", "data-dir", "database-url-file"} {
		if v := getenv(EnvName(name)); !f.Changed(name) && v != "" {
			if err := f.Set(name, v); err != nil {
				return fmt.Errorf("migrate: %s: %w", EnvName(name), err)
			}
		}
	}
	if c.DatabaseURLFile != "" {
		if c.DatabaseURL != "" {
			return errors.New("migrate: --database-url and --database-url-file exclude each other")
		}
		u, err := ReadSecretLine(c.DatabaseURLFile)
		if err != nil {
			return fmt.Errorf("migrate: --database-url-file: %w", err)
		}
		c.DatabaseURL = u
	}
	if c.DatabaseURL == "" && c.DataDir == "" {
		return errors.New("migrate: give --database-url or --data-dir")
	}
	return nil
}
