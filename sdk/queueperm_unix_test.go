//go:build unix

package sdk_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/sdk"
)

// TestQueueDirMustBePrivate: New refuses a queue directory someone else
// could tamper with, naming the problem and the fix, and accepts a private
// one (the default 0700, or 0755).
func TestQueueDirMustBePrivate(t *testing.T) {
	g := newFakeGateway(t)
	mkdir := func(t *testing.T, mode os.FileMode) string {
		dir := filepath.Join(t.TempDir(), "queue")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return dir
	}
	for _, tc := range []struct {
		name string
		dir  func(t *testing.T) string
		want string // in the error
	}{
		{"symbolic link", func(t *testing.T) string {
			link := filepath.Join(t.TempDir(), "link")
			if err := os.Symlink(mkdir(t, 0o700), link); err != nil {
				t.Fatal(err)
			}
			return link
		}, "is a symbolic link"},
		{"world-writable", func(t *testing.T) string { return mkdir(t, 0o777) }, "chmod go-w"},
		{"group-writable", func(t *testing.T) string { return mkdir(t, 0o770) }, "mode 0770"},
		{"sticky and world-writable", func(t *testing.T) string { return mkdir(t, 0o1777) }, "chmod go-w"},
		{"another user's", func(t *testing.T) string {
			if os.Geteuid() != 0 {
				return othersDir(t)
			}
			dir := mkdir(t, 0o700)
			if err := os.Chown(dir, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return dir
		}, "is owned by uid"},
		{"key file readable by others", func(t *testing.T) string {
			dir := mkdir(t, 0o700)
			writeFile(t, filepath.Join(dir, "queue.key"), make([]byte, sdk.QueueKeySize), 0o644)
			return dir
		}, "queue.key has mode 0644"},
		{"key file a symbolic link", func(t *testing.T) string {
			dir := mkdir(t, 0o700)
			target := filepath.Join(t.TempDir(), "key")
			writeFile(t, target, make([]byte, sdk.QueueKeySize), 0o600)
			if err := os.Symlink(target, filepath.Join(dir, "queue.key")); err != nil {
				t.Fatal(err)
			}
			return dir
		}, "queue.key is not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			c, err := sdk.New(sdk.Config{RelayURL: g.relayURL(), QueueDir: dir})
			if err == nil {
				c.Close(context.Background())
				t.Fatalf("New accepted %s", dir)
			}
			if !errors.Is(err, sdk.ErrQueueDirUnsafe) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v; want ErrQueueDirUnsafe saying %q", err, tc.want)
			}
		})
	}

	// A short key file is refused too, saying what to do.
	dir := mkdir(t, 0o700)
	writeFile(t, filepath.Join(dir, "queue.key"), []byte("short"), 0o600)
	if c, err := sdk.New(sdk.Config{RelayURL: g.relayURL(), QueueDir: dir}); err == nil {
		c.Close(context.Background())
		t.Error("New accepted a 5-byte key file")
	} else if !strings.Contains(err.Error(), "holds 5 bytes") || !strings.Contains(err.Error(), "remove it") {
		t.Errorf("New with a short key file: %v", err)
	}

	for _, mode := range []os.FileMode{0o700, 0o755} {
		dir := mkdir(t, mode)
		c, err := sdk.New(sdk.Config{RelayURL: g.relayURL(), QueueDir: dir})
		if err != nil {
			t.Fatalf("New on a %04o directory: %v", mode, err)
		}
		c.Close(context.Background())
	}
}

// TestQueueTempFileNoFollow: a symbolic link where the Client writes a
// temporary file is not followed. Before, the rewrite of a split batch
// opened it with O_TRUNC and overwrote the file it pointed to.
func TestQueueTempFileNoFollow(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	writeFile(t, victim, []byte("precious"), 0o600)
	g := newFakeGateway(t)
	hold := gwAnswer{OuterStatus: 503, OuterHeader: http.Header{"Retry-After": {"3600"}}}
	g.setScript(func(r *gwRequest) gwAnswer {
		switch {
		case r.N == 0:
			return hold
		case len(r.Events) > 2:
			return problem(413, "about:blank")
		}
		return gwAnswer{}
	})
	clk := sdk.NewFakeClock(clockStart)
	cfg := sdk.Config{QueueDir: dir, MaxBatchEvents: 4, FlushInterval: time.Hour, MaxRetryWait: 2 * time.Hour}
	sdk.SetClock(&cfg, clk)
	c, col := newClient(t, g, cfg)
	record(t, c, 4)
	waitArmed(t, clk, func(d time.Duration) bool { return d > time.Hour })
	files, _ := filepath.Glob(filepath.Join(dir, "*.batch"))
	if len(files) != 1 {
		t.Fatalf("queue files %v", files)
	}
	if err := os.Symlink(victim, files[0]+".tmp"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)
	flush(t, c)
	if got, err := os.ReadFile(victim); err != nil || string(got) != "precious" {
		t.Errorf("the file the link points to now holds %q (%v)", got, err)
	}
	if n := col.count(sdk.StatusAccepted); n != 4 {
		t.Errorf("accepted = %d, want 4 (the halves sent from memory)", n)
	}
}

// othersDir returns an existing directory that another user owns, for a
// test not running as root (which cannot chown one of its own). New refuses
// it before writing anything.
func othersDir(t *testing.T) string {
	t.Helper()
	for _, dir := range []string{"/", "/usr", "/etc", "/var"} {
		info, err := os.Lstat(dir)
		if err != nil || !info.IsDir() {
			continue
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
			return dir
		}
	}
	t.Fatalf("no directory owned by another user than uid %d to test with", os.Geteuid())
	return ""
}
