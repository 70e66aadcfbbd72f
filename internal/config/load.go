// Package config is how veil serve and veil relay read their settings, one
// way for both: every setting is a flag; a flag not given on the command
// line is taken from the environment (VEIL_ and the flag name in upper
// case, '-' as '_'), then from the file named by --config (one
// "flag-name = value" per line, # comments). A flag beats the environment,
// which beats the file, which beats the default. A bad value is an error
// naming its source; settings are validated at start and nothing is
// silently replaced.
package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// FileFlag is the flag naming the settings file.
const FileFlag = "config"

// EnvName is the environment variable of a flag.
func EnvName(flag string) string {
	return "VEIL_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// BindFile declares --config on f.
func BindFile(f *pflag.FlagSet) {
	f.String(FileFlag, "", "read settings from `FILE`: one flag-name = value per line, # comments")
}

// Load fills every flag of f not given on the command line from the
// environment (read through getenv), then from the --config file.
func Load(f *pflag.FlagSet, getenv func(string) string) error {
	file := map[string]string{}
	path, _ := f.GetString(FileFlag)
	if !f.Changed(FileFlag) {
		path = getenv(EnvName(FileFlag))
	}
	if path != "" {
		fh, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		file, err = parseFile(fh, f)
		fh.Close()
		if err != nil {
			return fmt.Errorf("config file %s: %w", path, err)
		}
	}
	var errs []error
	f.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed || fl.Name == FileFlag {
			return
		}
		if v := getenv(EnvName(fl.Name)); v != "" {
			if err := f.Set(fl.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", EnvName(fl.Name), err))
			}
			return
		}
		if v, ok := file[fl.Name]; ok {
			if err := f.Set(fl.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("config file: %s: %w", fl.Name, err))
			}
		}
	})
	return errors.Join(errs...)
}

// parseFile reads "name = value" lines; names are flag names of f.
func parseFile(r io.Reader, f *pflag.FlagSet) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: want name = value", n)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		v = strings.Trim(v, `"`)
		if f.Lookup(k) == nil || k == FileFlag {
			return nil, fmt.Errorf("line %d: unknown setting %q", n, k)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("line %d: %s set twice", n, k)
		}
		out[k] = v
	}
	return out, sc.Err()
}

// ReadSecretLine returns the first line of a secret file, trimmed. Errors
// name the file, never its content.
func ReadSecretLine(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 64<<10))
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return "", err
		}
		return "", errors.New("file is empty")
	}
	v := strings.TrimSpace(sc.Text())
	if v == "" {
		return "", errors.New("first line is empty")
	}
	return v, nil
}
