package veilv1_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// TestGeneratedCodeIsFresh regenerates the code into a temporary directory
// with the pinned plugins and compares it with the committed files.
func TestGeneratedCodeIsFresh(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("regeneration builds the protoc plugins; skipped in -short (never under CI=true)")
	}
	if _, err := exec.LookPath("protoc"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("protoc is missing; .ci/run installs protobuf-compiler")
		}
		t.Skip("protoc not installed (apt-get install protobuf-compiler libprotobuf-dev)")
	}
	_, file, _, _ := runtime.Caller(0)
	here := filepath.Dir(file)
	repo := filepath.Join(here, "..", "..", "..")
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(repo, "scripts", "gen-proto"), out)
	cmd.Dir = repo
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/gen-proto: %v\n%s", err, b)
	}
	gen, err := filepath.Glob(filepath.Join(out, "proto", "veil", "v1", "*"))
	if err != nil || len(gen) == 0 {
		t.Fatalf("no generated files (%v)", err)
	}
	for _, g := range gen {
		name := filepath.Base(g)
		want, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(here, name))
		if err != nil {
			t.Errorf("%s is generated but not committed: run scripts/gen-proto", name)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run scripts/gen-proto and commit the result", name)
		}
	}
}
