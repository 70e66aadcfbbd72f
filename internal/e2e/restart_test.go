package e2e

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/e2e/e2etest"
)

// holdingProxy stands between a client and the relay. It passes requests
// on, except that POST number holdAt is sent on, answered by the gateway,
// and its answer then withheld from the client until the client goes away:
// the batch is stored but its sender never learns so.
type holdingProxy struct {
	target string
	holdAt int64

	posts   atomic.Int64
	held    chan int // the held answer's status, once
	release chan struct{}
	url     string
}

func newHoldingProxy(t *testing.T, target string, holdAt int64) *holdingProxy {
	p := &holdingProxy{target: target, holdAt: holdAt, held: make(chan int, 1), release: make(chan struct{})}
	srv := httptest.NewServer(p)
	t.Cleanup(func() { close(p.release); srv.Close() })
	p.url = srv.URL
	return p
}

func (p *holdingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	req, err := http.NewRequestWithContext(context.WithoutCancel(r.Context()), r.Method, p.target+r.URL.Path, bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	n := int64(0)
	if r.Method == http.MethodPost {
		n = p.posts.Add(1)
	}
	resp, err := client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if n == p.holdAt {
		p.held <- resp.StatusCode
		select {
		case <-r.Context().Done():
		case <-p.release:
		}
		return
	}
	for _, h := range []string{"Content-Type", "Cache-Control", "Retry-After"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(out)
}

// queueContents reads the batches in an SDK queue directory (the
// on-disk format of sdk/queuedir.go and sdk/queuekey.go: JSON sealed with
// AES-256-GCM under the key in queue.key) and counts their events by
// app_version. Temporary files are not durable: the SDK removes them when
// it opens the directory.
func queueContents(t *testing.T, dir string) (byVersion map[string]int64, batches int) {
	t.Helper()
	byVersion = map[string]int64{}
	names, err := filepath.Glob(filepath.Join(dir, "*.batch"))
	if err != nil {
		t.Fatal(err)
	}
	var aead cipher.AEAD
	if len(names) > 0 {
		// The key is made before the first batch file.
		key, err := os.ReadFile(filepath.Join(dir, "queue.key"))
		if err != nil {
			t.Fatal(err)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		if aead, err = cipher.NewGCM(block); err != nil {
			t.Fatal(err)
		}
	}
	const magic = "veil-q1\n"
	for _, name := range names {
		sealed, err := os.ReadFile(name)
		if os.IsNotExist(err) {
			continue // answered meanwhile
		}
		if err != nil {
			t.Fatal(err)
		}
		rest, ok := bytes.CutPrefix(sealed, []byte(magic))
		if !ok || len(rest) < aead.NonceSize() {
			t.Fatalf("queue file %s is not sealed", name)
		}
		b, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], []byte(magic))
		if err != nil {
			t.Fatalf("queue file %s: %v", name, err)
		}
		var f struct {
			Batches []struct {
				BatchID string          `json:"batch_id"`
				Events  []e2etest.Event `json:"events"`
			} `json:"batches"`
		}
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("queue file %s: %v", name, err)
		}
		for _, qb := range f.Batches {
			batches++
			for _, e := range qb.Events {
				byVersion[e.Fields["app_version"].(string)]++
			}
		}
	}
	return byVersion, batches
}

// eventLines writes n JSON lines for `veil send`. Every run of 100 events
// (one SDK batch) gets its own app_version, "<phase>.<run>", so the
// aggregates grouped by app_version count each batch separately.
func eventLines(phase, n int) (lines []byte, sizes map[string]int64) {
	var b bytes.Buffer
	sizes = map[string]int64{}
	for i := range n {
		v := fmt.Sprintf("%d.%d", phase, i/100)
		sizes[v]++
		fmt.Fprintf(&b, `{"schema":"app.launch","version":1,"fields":{"os":"ios","app_version":%q,"cold_start_ms":%d}}`+"\n", v, i)
	}
	return b.Bytes(), sizes
}

// TestSendRestartExactlyOnce kills a `veil send --queue-dir` with SIGKILL
// mid-way and finishes with a second one on the same directory.
//
// The SDK's durability point is the queue file: Record only puts an event
// in memory; a batch is cut (at 100 events, at 64 KiB, after 5 s, or on
// Flush/Close) and written to the queue directory (synced, renamed) before
// its first request, and the file is removed only once the batch is
// answered. So after a kill:
//   - a batch that was answered is stored once, and its file is gone;
//   - a batch whose file is there is sent by the next process with the same
//     batch_id: stored once, answered "accepted" if the killed process's
//     attempt never committed, "duplicate" if it did (the held answer
//     below makes one such batch);
//   - events recorded but not yet cut (here the last 50, waiting for their
//     batch to fill) were only in memory and are lost.
//
// The test makes that exact: it reads the queue directory after the kill
// and checks that each app_version group ends stored once if it was stored
// before the kill or on disk at the kill, and not at all otherwise.
func TestSendRestartExactlyOnce(t *testing.T) {
	const (
		firstEvents  = 2050 // 20 full batches and 50 events left in memory
		secondEvents = 1000
		answered     = 5 // batches answered before the held one
	)
	s := startStackWith(t, stackOptions{relayArgs: fastRelay})
	s.registerSchema(t, "testdata/app.launch.json")
	proxy := newHoldingProxy(t, s.relayAt, answered+1)
	queue := filepath.Join(t.TempDir(), "queue")
	began := time.Now()

	// First sender: JSON lines on a pipe that stays open, so it never
	// reaches the end of its input and never flushes on its own.
	lines1, sizes := eventLines(1, firstEvents)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	first := start(t, "first send", pr, "send", "--relay", proxy.url+"/gateway", "--queue-dir", queue, "--verbose")
	pr.Close()
	go pw.Write(lines1)

	// Wait until the held batch was stored and every full batch after it
	// is on disk, then kill the sender.
	var heldStatus int
	select {
	case heldStatus = <-proxy.held:
	case <-first.Done():
		t.Fatalf("first sender exited:\n%s", first.Output())
	case <-time.After(60 * time.Second):
		t.Fatalf("no request %d after 60 s", answered+1)
	}
	if heldStatus != http.StatusOK {
		t.Fatalf("held request answered %d", heldStatus)
	}
	fullOnDisk := int64(firstEvents/100-answered) * 100
	deadline := time.Now().Add(30 * time.Second)
	for {
		onDisk, _ := queueContents(t, queue)
		var n int64
		for _, c := range onDisk {
			n += c
		}
		if n >= fullOnDisk {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events on disk after 30 s, want %d", n, fullOnDisk)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := first.Cmd().Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.Done()
	pw.Close()
	onDisk, diskBatches := queueContents(t, queue)
	before := s.aggregates(t, "app.launch", 1, "app_version").countsBy("app_version")
	var storedBefore, diskEvents, overlap int64
	for v, n := range before {
		storedBefore += n
		if n != sizes[v] {
			t.Errorf("before restart: group %s stored %d times its %d events", v, n, sizes[v])
		}
		if onDisk[v] > 0 {
			overlap += onDisk[v]
		}
	}
	for v, n := range onDisk {
		diskEvents += n
		if n != sizes[v] {
			t.Errorf("queue directory holds %d of group %s's %d events", n, v, sizes[v])
		}
	}
	if got := s.acceptedStat(t); got != storedBefore {
		t.Errorf("stats: %d accepted before restart, aggregates %d", got, storedBefore)
	}
	t.Logf("killed after %v: %d events stored, %d events in %d batches on disk (%d of them stored too), %d in memory only",
		time.Since(began).Round(time.Millisecond), storedBefore, diskEvents, diskBatches, overlap, firstEvents-storedBefore-diskEvents+overlap)
	// The held batch is both stored and on disk; the answered ones are
	// stored and gone.
	if overlap != 100 || storedBefore != (answered+1)*100 {
		t.Errorf("stored %d with %d also on disk; want %d stored, 100 of them on disk", storedBefore, overlap, (answered+1)*100)
	}

	// Second sender on the same directory, with more events, to the end.
	lines2, sizes2 := eventLines(2, secondEvents)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	second := exec.CommandContext(ctx, e2etest.Binary(t), "send", "--relay", s.relayAt+"/gateway", "--queue-dir", queue)
	second.Stdin = bytes.NewReader(lines2)
	var stdout, stderr bytes.Buffer
	second.Stdout, second.Stderr = &stdout, &stderr
	if err := second.Run(); err != nil {
		t.Fatalf("second sender: %v\nstderr: %s", err, stderr.String())
	}
	if got := strings.Count(stdout.String(), `"status":"accepted"`); got != secondEvents {
		t.Errorf("second sender: %d of its %d events accepted:\n%s", got, secondEvents, stdout.String())
	}
	// Its summary of the batches it found: the held one is a duplicate.
	want := fmt.Sprintf("send: %d events from an earlier run in --queue-dir: %d accepted, %d duplicate, 0 rejected, 0 dropped\n",
		diskEvents, diskEvents-overlap, overlap)
	if stderr.String() != want {
		t.Errorf("second sender stderr %q, want %q", stderr.String(), want)
	}
	if left, _ := filepath.Glob(filepath.Join(queue, "*")); len(left) != 0 {
		t.Errorf("queue directory not empty: %v", left)
	}

	// Every group ends stored exactly once if it was stored or on disk at
	// the kill, and not at all if it was only in memory.
	after := s.aggregates(t, "app.launch", 1, "app_version")
	if after.Suppressed != 0 {
		t.Errorf("%d groups suppressed", after.Suppressed)
	}
	got := after.countsBy("app_version")
	var wantTotal int64
	for v, size := range sizes {
		want := int64(0)
		if before[v] > 0 || onDisk[v] > 0 {
			want = size
		}
		wantTotal += want
		if got[v] != want {
			t.Errorf("group %s: stored %d, want %d (stored before %d, on disk %d)", v, got[v], want, before[v], onDisk[v])
		}
	}
	for v, size := range sizes2 {
		wantTotal += size
		if got[v] != size {
			t.Errorf("group %s: stored %d, want %d", v, got[v], size)
		}
	}
	if total, stat := after.total(), s.acceptedStat(t); total != wantTotal || stat != wantTotal {
		t.Errorf("stored %d (stats %d), want %d", total, stat, wantTotal)
	}
	t.Logf("after restart: %d events stored (%d from the first sender, %d from the second), in %v",
		wantTotal, wantTotal-secondEvents, secondEvents, time.Since(began).Round(time.Millisecond))
}
