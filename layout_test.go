// Package veil_test checks the architecture of the repository: the folders
// of DESIGN.md import only what their row allows, so dependencies point one
// way and the relay cannot link anything able to decrypt.
package veil_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/veil-telemetry/veil"

// allowed lists, per folder, the folders of this module it may import
// (directly). Sub-packages inherit their folder's row; test files are exempt.
var allowed = map[string][]string{
	"bhttp":      {},
	"ohttp":      {},
	"gateway":    {"ohttp", "bhttp"},
	"relay":      {"tlsconfig"},
	"schema":     {},
	"ingest":     {"schema", "storage", "proto"},
	"admin":      {"schema", "storage", "proto", "ohttp"},
	"storage":    {"migrations"},
	"migrations": {},
	"proto":      {},
	"sdk":        {"ohttp", "bhttp"},
	// The load generator drives the public path like a client; the fault
	// and end-to-end tests run the whole binary and may import anything.
	"loadgen":   {"ohttp", "bhttp", "sdk", "proto"},
	"faulttest": {"*"},
	"e2e":       {"*"},
	// TLS settings of the listeners and the relay's client: std only.
	"tlsconfig": {},
}

// public lists the folders a user of the module imports; every other
// server package lives under internal/.
var public = map[string]bool{"bhttp": true, "ohttp": true, "sdk": true, "proto": true, "migrations": true, "cmd": true, "": true}

// thirdParty lists the module paths outside the standard library each
// folder may use, directly or not. Folders not listed here are unrestricted.
var thirdParty = map[string][]string{
	"bhttp":  {},
	"ohttp":  {"github.com/cloudflare/circl", "golang.org/x/crypto", "golang.org/x/sys"},
	"relay":  {"golang.org/x/time"},
	"schema": {"github.com/santhosh-tekuri/jsonschema/v6", "golang.org/x/text", "github.com/goccy/go-json"},

	"tlsconfig": {},
}

func folderOf(pkg string) string {
	rest := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	rest = strings.TrimPrefix(rest, "internal/")
	first, _, _ := strings.Cut(rest, "/")
	if first == "cmd" {
		return "cmd"
	}
	return first
}

func goList(t *testing.T, format string, pkgs ...string) []string {
	t.Helper()
	args := append([]string{"list", "-e", "-f", format}, pkgs...)
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

func TestImportsFollowDesignLayout(t *testing.T) {
	for _, line := range goList(t, `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		from := folderOf(fields[0])
		rules, known := allowed[from]
		if !known && from != "cmd" && from != "" {
			t.Errorf("%s: folder %s/ has no row in the layout table", fields[0], from)
		}
		internal := strings.HasPrefix(fields[0], module+"/internal/")
		if public[from] == internal {
			t.Errorf("%s: public packages are %v; every other package lives under internal/", fields[0], public)
		}
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			to := folderOf(imp)
			if to == "cmd" {
				t.Errorf("%s imports %s: nothing imports cmd/", fields[0], imp)
				continue
			}
			if !known || to == from {
				continue
			}
			ok := false
			for _, a := range rules {
				ok = ok || a == to || a == "*"
			}
			if !ok {
				t.Errorf("%s imports %s: %s/ may import only %v (DESIGN.md layout)", fields[0], imp, from, rules)
			}
		}
	}
}

func TestThirdPartyDependencies(t *testing.T) {
	for folder, mods := range thirdParty {
		dir := "./internal/" + folder + "/..."
		if public[folder] {
			dir = "./" + folder + "/..."
		}
		deps := goList(t, `{{if not .Standard}}{{.ImportPath}}{{end}}`, "-deps", dir)
		for _, d := range deps {
			if d == "" || strings.HasPrefix(d, module) {
				continue
			}
			ok := false
			for _, m := range mods {
				ok = ok || d == m || strings.HasPrefix(d, m+"/")
			}
			if !ok {
				t.Errorf("%s/ links %s, outside its allowlist %v", folder, d, mods)
			}
		}
	}
}
