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
// (directly). Sub-packages inherit their folder's row unless they have one
// of their own ("problem/grpcproblem"); test files are exempt.
var allowed = map[string][]string{
	"bhttp":   {},
	"ohttp":   {},
	"gateway": {"ohttp", "bhttp", "keystate", "problem", "httpcache", "bodyread"},
	// The relay may use std-only helpers that hold no key material.
	"relay":  {"problem", "httpcache", "tlsconfig", "bodyread"},
	"schema": {},
	"ingest": {"schema", "storage", "proto", "problem", "problem/grpcproblem"},
	// The admin plane owns the key lifecycle: it hands the storage key
	// ring to the gateway (admin.Server.LiveKeys).
	"admin":      {"schema", "storage", "proto", "ohttp", "gateway", "keystate", "problem", "problem/grpcproblem", "secretfile", "chart"},
	"admincli":   {"proto", "problem"}, // veil admin: a client of the admin API
	"buildinfo":  {},
	"storage":    {"migrations", "keystate", "secretfile"},
	"keystate":   {},
	"migrations": {},
	"proto":      {},
	"sdk":        {"ohttp", "bhttp"},
	"send":       {"sdk"},    // `veil send`, a client of the SDK like an app
	"validate":   {"schema"}, // `veil validate`, schema checks offline
	"auditsdk":   {},         // `veil audit-sdk`: published SDK digests, compiled in
	// The one error model: kinds, HTTP statuses and problem documents
	// (std only), and beside it the kinds' gRPC codes, for ingest and
	// admin only.
	"problem":             {},
	"problem/grpcproblem": {"problem"},
	// Small std-only helpers: HTTP cache validators for the gateway and
	// the relay; the exclusive write of a secret file; tests' log capture.
	"httpcache":  {},
	"secretfile": {},
	// Request bodies read before a slot is taken, under a minimum rate
	// and a byte budget (std only), for the gateway and the relay.
	"bodyread": {},
	"testlog":  {},
	"testpki":  {}, // tests' throwaway certificate authorities
	// Server-rendered SVG charts of the dashboard (std only).
	"chart": {},
	// The load generator drives the public path like a client; the fault
	// and end-to-end tests run the whole binary and may import anything.
	"loadgen": {"ohttp", "bhttp", "sdk", "proto"},
	// veil bench's logic: it sets up targets (its ingest mode runs the
	// ingest API in process) and drives them with loadgen.
	"bench": {"loadgen", "admin", "gateway", "ingest", "schema", "server", "storage", "ohttp", "bhttp"},
	// What cmd/veil wires: the settings of serve and relay (defaults are
	// the owning packages' constants), the listener runner, the key file
	// format of veil keys.
	"config": {"admin", "gateway", "ingest", "relay", "server", "storage", "ohttp"},
	"server": {},
	// AEAD-only TLS settings for every listener and the relay's client.
	"tlsconfig": {},
	"keyfile":   {"ohttp"},
	"faulttest": {"*"},
	"e2e":       {"*"},
}

// public lists the folders a user of the module imports; every other
// server package lives under internal/.
var public = map[string]bool{"bhttp": true, "ohttp": true, "sdk": true, "proto": true, "migrations": true, "cmd": true, "": true}

// thirdParty lists the module paths outside the standard library each
// folder (a row of allowed) may use, directly or not. A sub-package with a
// row of its own is checked against its own list. Folders not listed here
// are unrestricted.
var thirdParty = map[string][]string{
	"bhttp":    {},
	"keystate": {},
	"server":   {},
	"bodyread": {},
	"ohttp":    {"github.com/cloudflare/circl", "golang.org/x/crypto", "golang.org/x/sys"},
	"relay":    {"golang.org/x/time"},
	"schema":   {"github.com/santhosh-tekuri/jsonschema/v6", "golang.org/x/text"},
	// The gateway imports problem: std only.
	"problem": {},
	"problem/grpcproblem": {
		"google.golang.org/grpc", "google.golang.org/genproto/googleapis",
		"google.golang.org/protobuf", "github.com/grpc-ecosystem/grpc-gateway/v2",
		"golang.org/x/net", "golang.org/x/sys", "golang.org/x/text",
	},
	"httpcache":  {},
	"secretfile": {},
	"testlog":    {},
	"testpki":    {},
	"tlsconfig":  {},
	"chart":      {},
}

// folderOf returns the row of allowed that pkg belongs to: its folder
// (without internal/), or the longest sub-package path with a row of its
// own.
func folderOf(pkg string) string {
	rest := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	rest = strings.TrimPrefix(rest, "internal/")
	first, _, _ := strings.Cut(rest, "/")
	if first == "cmd" {
		return "cmd"
	}
	row := first
	for r := range allowed {
		if len(r) > len(row) && (rest == r || strings.HasPrefix(rest, r+"/")) {
			row = r
		}
	}
	return row
}

// topFolder is the folder of a row ("problem" for "problem/grpcproblem").
func topFolder(row string) string {
	first, _, _ := strings.Cut(row, "/")
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
		if public[topFolder(from)] == internal {
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
		if _, ok := allowed[folder]; !ok {
			t.Errorf("thirdParty row %s is not a row of allowed", folder)
		}
		dir := "./internal/" + folder + "/..."
		if public[topFolder(folder)] {
			dir = "./" + folder + "/..."
		}
		// Only the packages of this row: a sub-package with a row of its
		// own is checked against that.
		var pkgs []string
		for _, p := range goList(t, `{{.ImportPath}}`, dir) {
			if folderOf(p) == folder {
				pkgs = append(pkgs, p)
			}
		}
		if len(pkgs) == 0 {
			t.Errorf("thirdParty row %s: no package in %s", folder, dir)
			continue
		}
		deps := goList(t, `{{if not .Standard}}{{.ImportPath}}{{end}}`, append([]string{"-deps"}, pkgs...)...)
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
