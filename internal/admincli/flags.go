package admincli

import (
	"cmp"
	"io"
	"time"

	"github.com/spf13/pflag"
)

// Flags are veil admin's persistent flags: where the admin listener is and
// how to authenticate to it.
type Flags struct {
	Addr, TokenFile, DataDir, CAFile string
	Timeout                          time.Duration
	JSON                             bool
}

// BindFlags declares the flags on f. --data-dir defaults to VEIL_DATA_DIR,
// read through getenv, as veil serve's does.
func (fl *Flags) BindFlags(f *pflag.FlagSet, getenv func(string) string) {
	f.StringVar(&fl.Addr, "admin", DefaultAddr, "admin listener of veil serve: host:port (h2c), or https://host:port")
	f.StringVar(&fl.TokenFile, "token-file", "", "admin token file (default: $VEIL_ADMIN_TOKEN_FILE, else <data-dir>/admin-token)")
	f.StringVar(&fl.DataDir, "data-dir", cmp.Or(getenv("VEIL_DATA_DIR"), DefaultDataDir), "veil serve's data directory, where it keeps the admin token it creates")
	f.StringVar(&fl.CAFile, "ca-file", "", "PEM CA certificates to trust for an https:// --admin (default: the system's)")
	f.DurationVar(&fl.Timeout, "timeout", DefaultTimeout, "give up on a call after this long")
	f.BoolVar(&fl.JSON, "json", false, "print the API's answer as one JSON document")
}

// Run makes a CLI as the flags say, writing to out and taking the token
// file from VEIL_ADMIN_TOKEN_FILE (through getenv) when --token-file is not
// given (see TokenFile), runs fn on it and closes it. A *UsageError is a
// mistake in the command line.
func (fl *Flags) Run(out io.Writer, getenv func(string) string, fn func(*CLI) error) error {
	c, err := New(Config{
		Addr:      fl.Addr,
		TokenFile: TokenFile(fl.TokenFile, getenv("VEIL_ADMIN_TOKEN_FILE"), fl.DataDir),
		CAFile:    fl.CAFile,
		Timeout:   fl.Timeout,
		JSON:      fl.JSON,
		Out:       out,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}
