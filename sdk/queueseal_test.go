package sdk_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/sdk"
)

// holdingGateway answers every request 503 with a Retry-After of an hour
// until release is called, then accepts.
func holdingGateway(t *testing.T) (g *fakeGateway, release func()) {
	g = newFakeGateway(t)
	down := true
	g.setScript(func(*gwRequest) gwAnswer {
		g.mu.Lock()
		defer g.mu.Unlock()
		if down {
			return gwAnswer{OuterStatus: 503, OuterHeader: http.Header{"Retry-After": {"3600"}}}
		}
		return gwAnswer{}
	})
	return g, func() {
		g.mu.Lock()
		down = false
		g.mu.Unlock()
	}
}

// queueBatchFiles returns the batch files of dir, in queue order.
func queueBatchFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.batch"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

var minuteCreated = regexp.MustCompile(`"created":"\d{4}-\d\d-\d\dT\d\d:\d\d:00Z"`)

// TestQueueFilesSealed: a queue file holds nothing readable — no event
// field, schema or batch_id — and, sealed inside, times to the minute only;
// its name carries no time. The next Client opens it and delivers it, and
// the key file goes once the directory is empty. Before, files held the
// events in plain JSON with nanosecond times, and nanoseconds in the name.
func TestQueueFilesSealed(t *testing.T) {
	dir := t.TempDir()
	g, release := holdingGateway(t)
	clk := sdk.NewFakeClock(clockStart.Add(17*time.Second + 123456789))
	cfg := sdk.Config{QueueDir: dir, MaxBatchEvents: 2, FlushInterval: time.Hour, MaxRetryWait: 2 * time.Hour}
	sdk.SetClock(&cfg, clk)
	c1, col1 := newClient(t, g, cfg)
	for i := range 4 {
		if err := c1.Record(context.Background(), "app.launch", 1, map[string]any{"os": "needle-os", "i": i}); err != nil {
			t.Fatal(err)
		}
	}
	waitArmed(t, clk, func(d time.Duration) bool { return d > time.Hour })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c1.Close(ctx)
	if n := col1.count(sdk.StatusQueued); n != 4 {
		t.Fatalf("%d events queued at Close, want 4", n)
	}

	files := queueBatchFiles(t, dir)
	if len(files) != 2 {
		t.Fatalf("queue files %v, want 2", files)
	}
	batchID := g.seen()[0].BatchID
	for i, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, plain := range []string{"needle-os", "app.launch", batchID, "created", "2026"} {
			if bytes.Contains(raw, []byte(plain)) {
				t.Errorf("%s holds %q in the clear", filepath.Base(f), plain)
			}
		}
		if !bytes.HasPrefix(raw, []byte(sdk.SealedMagic)) {
			t.Errorf("%s starts %q", filepath.Base(f), raw[:min(len(raw), 8)])
		}
		if order, _, _ := strings.Cut(filepath.Base(f), "-"); order != "000000000000000"+strconv.Itoa(i+1) {
			t.Errorf("queue file %s: the order part is not a counter", filepath.Base(f))
		}
		js, err := sdk.QueueFileJSON(f, nil)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
		if !bytes.Contains(js, []byte("needle-os")) || !minuteCreated.Match(js) || bytes.Contains(js, []byte(":17")) {
			t.Errorf("sealed JSON %s; want the events and a creation time to the minute", js)
		}
	}
	info, err := os.Lstat(filepath.Join(dir, "queue.key"))
	if err != nil || info.Mode().Perm() != 0o600 || info.Size() != sdk.QueueKeySize {
		t.Errorf("key file: %v, %v", info, err)
	}

	release()
	cfg2 := sdk.Config{QueueDir: dir}
	sdk.SetClock(&cfg2, clk)
	c2, col2 := newClient(t, g, cfg2)
	flush(t, c2)
	if n := col2.count(sdk.StatusAccepted); n != 4 {
		t.Errorf("accepted after restart = %d, want 4", n)
	}
	if err := c2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Errorf("left in the queue directory after delivery: %v", left)
	}
}

// fixedKey is a QueueKeyProvider standing in for a keystore.
type fixedKey struct {
	key []byte
	err error
}

func (k fixedKey) QueueKey() ([]byte, error) { return k.key, k.err }

// TestQueueKeyProvider: with Config.QueueKey the files are sealed with the
// provider's key and no key file is written; a different key cannot open
// them, so they are dropped, not sent; a provider's error fails New.
func TestQueueKeyProvider(t *testing.T) {
	dir := t.TempDir()
	key := bytes.Repeat([]byte{7}, sdk.QueueKeySize)
	g, release := holdingGateway(t)
	cfg := sdk.Config{QueueDir: dir, QueueKey: fixedKey{key: key}}
	c1, _ := newClient(t, g, cfg)
	record(t, c1, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	c1.Close(ctx)
	files := queueBatchFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("queue files %v", files)
	}
	if _, err := sdk.QueueFileJSON(files[0], key); err != nil {
		t.Errorf("not sealed with the provider's key: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "queue.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a key file was written with a provider: %v", err)
	}

	release()
	before := len(g.seen())
	other := bytes.Repeat([]byte{8}, sdk.QueueKeySize)
	c2, _ := newClient(t, g, sdk.Config{QueueDir: dir, QueueKey: fixedKey{key: other}})
	flush(t, c2)
	if n := len(g.seen()) - before; n != 0 {
		t.Errorf("%d requests from a file sealed under another key", n)
	}
	if files := queueBatchFiles(t, dir); len(files) != 0 {
		t.Errorf("undecryptable queue files left: %v", files)
	}
	c2.Close(context.Background())

	for _, p := range []fixedKey{{err: errors.New("keystore locked")}, {key: key[:16]}} {
		if c, err := sdk.New(sdk.Config{RelayURL: g.relayURL(), QueueDir: t.TempDir(), QueueKey: p}); err == nil {
			c.Close(context.Background())
			t.Errorf("New accepted a provider giving %v", p)
		} else if !strings.Contains(err.Error(), "Config.QueueKey") {
			t.Errorf("New: %v, want it to name Config.QueueKey", err)
		}
	}
}

// TestQueueLegacyFileSealed: a queue file an earlier version wrote (plain
// JSON, exact times) is sealed in place as soon as it is loaded, before it
// is sent, and then delivered with its batch_id.
func TestQueueLegacyFileSealed(t *testing.T) {
	dir := t.TempDir()
	const batchID = "AAAAAAAAAAAAAAAAAAAAAA"
	legacy := `{"batches":[{"batch_id":"` + batchID + `","created":"` + clockStart.Add(-time.Hour+1234567891).Format(time.RFC3339Nano) +
		`","events":[{"schema":"app.launch","version":1,"fields":{"os":"needle-os","i":0}}]}]}` + "\n"
	// Named as the earlier version named files: nanoseconds in the order part.
	name := filepath.Join(dir, "1879c3b1a6c00000-00000000000000aa.batch")
	writeFile(t, name, []byte(legacy), 0o600)

	g, release := holdingGateway(t)
	clk := sdk.NewFakeClock(clockStart)
	cfg := sdk.Config{QueueDir: dir, FlushInterval: time.Hour, MaxRetryWait: 2 * time.Hour}
	sdk.SetClock(&cfg, clk)
	c, col := newClient(t, g, cfg)
	go c.Flush(context.Background())
	waitArmed(t, clk, func(d time.Duration) bool { return d > time.Hour })
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("needle-os")) || !bytes.HasPrefix(raw, []byte(sdk.SealedMagic)) {
		t.Errorf("the earlier version's file is not sealed once loaded: %q", raw[:min(len(raw), 40)])
	}
	if js, err := sdk.QueueFileJSON(name, nil); err != nil || !minuteCreated.Match(js) || !bytes.Contains(js, []byte(batchID)) {
		t.Errorf("sealed %s (%v): want the batch with its creation time to the minute", js, err)
	}
	release()
	clk.Advance(2 * time.Hour)
	flush(t, c)
	reqs := g.seen()
	if len(reqs) != 2 || reqs[1].BatchID != batchID || col.count(sdk.StatusAccepted) != 1 {
		t.Errorf("requests %d (batch %q), accepted %d; want the batch sent with its batch_id and accepted",
			len(reqs), reqs[len(reqs)-1].BatchID, col.count(sdk.StatusAccepted))
	}
}

// TestQueueOversizedFileSkipped: a file in the queue directory far larger
// than a batch (300 MB, sparse) is neither read nor counted: new events
// are delivered, not dropped queue_full. Before, it was read whole (640 MB
// at the peak) and blocked every new batch as queue_full.
func TestQueueOversizedFileSkipped(t *testing.T) {
	dir := t.TempDir()
	var names []string
	for _, name := range []string{"0000000000000001-00000000000000aa.batch", "1879c3b1a6c00000-00000000000000bb.batch"} {
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(300 << 20); err != nil {
			t.Fatal(err)
		}
		f.Close()
		names = append(names, path)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	allocated := ms.TotalAlloc

	g := newFakeGateway(t)
	c, col := newClient(t, g, sdk.Config{QueueDir: dir})
	record(t, c, 5)
	flush(t, c)
	if n := col.count(sdk.StatusAccepted); n != 5 {
		t.Errorf("accepted = %d, want 5: %+v", n, col.all())
	}
	runtime.ReadMemStats(&ms)
	if grew := ms.TotalAlloc - allocated; grew > 32<<20 {
		t.Errorf("allocated %d MiB: the oversized files were read", grew>>20)
	}
	for _, path := range names {
		if info, err := os.Stat(path); err != nil || info.Size() != 300<<20 {
			t.Errorf("oversized file %s: %v, %v; want it left as it was", filepath.Base(path), info, err)
		}
	}
}

// TestMaxMemoryBytes: the in-memory queue is capped in bytes too. Before,
// only the count was: 10,000 events of 60 KB held 628 MiB.
func TestMaxMemoryBytes(t *testing.T) {
	g, _ := holdingGateway(t)
	clk := sdk.NewFakeClock(clockStart)
	cfg := sdk.Config{FlushInterval: time.Hour}
	sdk.SetClock(&cfg, clk)
	c, col := newClient(t, g, cfg)
	big := strings.Repeat("x", 60<<10)
	taken := 0
	for i := range 400 {
		err := c.Record(context.Background(), "app.launch", 1, map[string]any{"i": i, "pad": big})
		if errors.Is(err, sdk.ErrQueueFull) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		taken++
	}
	if want := sdk.DefaultMaxMemoryBytes / (60 << 10); taken > want || taken < want-1 {
		t.Errorf("%d events of 60 KiB taken, want %d (DefaultMaxMemoryBytes)", taken, want)
	}
	rs := col.all()
	if len(rs) != 400-taken {
		t.Fatalf("%d results, want %d dropped", len(rs), 400-taken)
	}
	for _, r := range rs {
		if r.Status != sdk.StatusDropped || r.Reason != sdk.ReasonQueueFull {
			t.Errorf("result %+v, want dropped queue_full", r)
		}
	}

	// Too small to hold one batch: refused.
	if c, err := sdk.New(sdk.Config{RelayURL: g.relayURL(), MaxMemoryBytes: 1000}); err == nil {
		c.Close(context.Background())
		t.Error("New accepted MaxMemoryBytes below MaxBatchBytes")
	}
}

func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}
