// Package e2etest runs the veil binary for tests that drive it from the
// outside, as e2e/ and faulttest/ do: it builds ./cmd/veil once per test
// binary, starts its subcommands on free loopback ports with their output
// kept, stops them at the end of the test, and talks to them over HTTP, the
// admin REST API and Oblivious HTTP.
//
// Helpers take the *http.Client to use, so a test can trust its own CA or
// pick its own timeouts. Failures end the calling test (t.Fatal).
package e2etest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/storage/storagetest"
)

// build is the veil binary of this test binary. It is package state on
// purpose: building once is what keeps the tests of a package from each
// paying for `go build`.
var build struct {
	once sync.Once
	bin  string
	err  error
}

// Binary builds ./cmd/veil on first use and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "veil-test-bin-")
		if err != nil {
			build.err = err
			return
		}
		build.bin = filepath.Join(dir, "veil")
		// By import path, so that it builds from any test's directory.
		cmd := exec.Command("go", "build", "-o", build.bin, "github.com/veil-telemetry/veil/cmd/veil")
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build ./cmd/veil: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

// NeedPostgres skips the test without PostgreSQL server binaries (and no
// storagetest.EnvURL), except under CI=true, where their absence is a
// failure.
func NeedPostgres(t testing.TB) {
	t.Helper()
	if os.Getenv(storagetest.EnvURL) != "" {
		return
	}
	storagetest.NeedBinaries(t)
}

// FreeAddr returns a loopback address ("127.0.0.1:port") whose port was
// free a moment ago, for a listener flag of a process.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Missing stops a test whose dependency (a browser, Node, npm packages) is
// absent: a failure under CI=true, where .ci/run installs every
// dependency, and a skip saying what to install elsewhere.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %s", what)
	}
	t.Skipf("%s (CI=true makes this a failure)", what)
}

// Chromium returns the path of a Chromium (or Chrome) binary: $CHROMIUM,
// else the first on $PATH; see Missing when there is none.
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			Missing(t, fmt.Sprintf("no Chromium at $CHROMIUM (%v)", err))
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	Missing(t, "no Chromium: install Debian's chromium (apt-get install chromium) or set CHROMIUM")
	return ""
}

// Eventually polls cond, every 100 ms, until it holds, and fails the test
// naming what it waited for once timeout has passed: for conditions of
// other processes (a mix, a leader) that no signal announces.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
