package faulttest

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/e2e/e2etest"
	"github.com/veil-telemetry/veil/internal/storage"
)

// ledger records what a load of raw OHTTP clients saw: which events were
// acknowledged, and how each answer looked.
type ledger struct {
	mu        sync.Mutex
	acked     map[int64]bool
	kinds     map[string]int64
	dupAnswer int64
	sent      int64
	firstAck  time.Time // first acknowledgement after resetAck
	watch     bool      // record firstAck
}

func newLedger() *ledger { return &ledger{acked: map[int64]bool{}, kinds: map[string]int64{}} }

func (l *ledger) note(kind string) {
	l.mu.Lock()
	l.kinds[kind]++
	l.mu.Unlock()
}

func (l *ledger) resetAck() {
	l.mu.Lock()
	l.firstAck, l.watch = time.Time{}, true
	l.mu.Unlock()
}

// classify names an exchange's outcome and reports whether the batch was
// acknowledged (every event accepted or duplicate).
func classify(r exchangeResult, n int) (kind string, acked, dup bool) {
	switch {
	case r.err != nil:
		return "transport_error", false, false
	case r.outer != http.StatusOK:
		k := fmt.Sprintf("outer_%d", r.outer)
		if r.outer == http.StatusServiceUnavailable && r.retry == "" {
			k += "_no_retry_after"
		}
		return k, false, false
	case r.inner.StatusCode != http.StatusOK:
		k := fmt.Sprintf("inner_%d", r.inner.StatusCode)
		if r.inner.StatusCode == http.StatusServiceUnavailable && fieldOf(r.inner, "retry-after") == "" {
			k += "_no_retry_after"
		}
		return k, false, false
	}
	rs, err := e2etest.ParseResults(r.inner.Content)
	if err != nil || len(rs) != n {
		return "inner_bad_results", false, false
	}
	st := statuses(rs)
	switch {
	case st["accepted"] == n:
		return "acked", true, false
	case st["duplicate"] == n:
		return "acked_duplicate", true, true
	}
	return "mixed_results", false, false
}

// runBatches sends batches of n fault.event events from workers until
// stop closes, retrying each unacknowledged batch with the same batch_id
// (re-encapsulated, fresh Date) until it is acknowledged or drain passes.
// seqs come from next. During [outageFrom, outageTo) it tracks the
// slowest answer.
func runBatches(t *testing.T, snd *sender, l *ledger, workers, n int, next *atomic.Int64, stop <-chan struct{}, drain time.Duration, slowest *atomic.Int64) {
	t.Helper()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				id := e2etest.NewBatchID()
				evs := make([]ev, n)
				seqs := make([]int64, n)
				for i := range evs {
					seqs[i] = next.Add(1)
					evs[i] = seqEv("android", seqs[i])
				}
				l.mu.Lock()
				l.sent += int64(n)
				l.mu.Unlock()
				var deadline time.Time
				for {
					ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
					r := snd.send(ctx, e2etest.Inner{Content: batchJSON(id, evs)}.Marshal(t))
					cancel()
					if slowest != nil && int64(r.latency) > slowest.Load() {
						slowest.Store(int64(r.latency))
					}
					kind, ok, dup := classify(r, n)
					l.note(kind)
					if ok {
						l.mu.Lock()
						for _, s := range seqs {
							l.acked[s] = true
						}
						if dup {
							l.dupAnswer++
						}
						if l.watch && l.firstAck.IsZero() {
							l.firstAck = time.Now()
						}
						l.mu.Unlock()
						break
					}
					select {
					case <-stop:
						if deadline.IsZero() {
							deadline = time.Now().Add(drain)
						}
					default:
					}
					if !deadline.IsZero() && time.Now().After(deadline) {
						t.Errorf("batch never acknowledged (last answer %s)", kind)
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
}

// TestDatabaseOutage stops PostgreSQL under load for a few seconds (10 s
// in the long run): requests are answered 503 with Retry-After without
// hanging, the service recovers by itself once the database is back, and
// every acknowledged event is stored exactly once.
func TestDatabaseOutage(t *testing.T) {
	e2etest.NeedPostgres(t)
	ctx := context.Background()
	pgDir := shortTempDir(t)
	pgCfg := storage.LocalConfig{DataDir: pgDir, InitNoSync: true}
	pg, err := storage.StartLocalConfig(ctx, pgCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { pg.Stop(context.Background()) }()
	dbURL := pg.URL()
	s := startServe(t, serveOpts{dbURL: dbURL})
	s.registerSchema(t, readFile(t, "testdata/fault.event.json"))
	snd := newSender(t, s.public, httpc)
	// Warm the schema cache and the key ring.
	if k, ok, _ := classify(snd.send(ctx, e2etest.Inner{Content: batchJSON(e2etest.NewBatchID(), []ev{seqEv("ios", 0)})}.Marshal(t)), 1); !ok {
		t.Fatalf("first batch: %s", k)
	}

	outage := pick(4*time.Second, 10*time.Second)
	l := newLedger()
	var next atomic.Int64
	next.Store(1000)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		runBatches(t, snd, l, 4, 10, &next, stop, 60*time.Second, nil)
		close(done)
	}()
	time.Sleep(time.Second)

	// The outage: a fast shutdown ends the server's sessions.
	if err := pg.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	t.Logf("PostgreSQL stopped")
	// Probe during the outage with a separate client: each answer is a
	// 503 with Retry-After, in bounded time.
	var probes, probe503 int
	var probeSlowest time.Duration
	for time.Since(down) < outage {
		r := snd.send(ctx, e2etest.Inner{Content: batchJSON(e2etest.NewBatchID(), []ev{seqEv("ios", 1)})}.Marshal(t))
		probes++
		probeSlowest = max(probeSlowest, r.latency)
		kind, _, _ := classify(r, 1)
		if time.Since(down) > 500*time.Millisecond { // let in-flight commits fail first
			if kind == "inner_503" || kind == "outer_503" {
				probe503++
			} else {
				t.Errorf("during the outage: %s after %v", kind, r.latency)
			}
		}
		if r := call(t, http.MethodGet, s.public+"/readyz", "", nil); time.Since(down) > 2*time.Second && r.Status != http.StatusServiceUnavailable {
			t.Errorf("readyz during the outage: %d", r.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	pg, err = storage.StartLocalConfig(ctx, pgCfg)
	if err != nil {
		t.Fatal(err)
	}
	l.resetAck()
	back := time.Now()
	t.Logf("PostgreSQL started again after %v", back.Sub(down).Round(time.Millisecond))
	deadline := time.Now().Add(30 * time.Second)
	for {
		l.mu.Lock()
		first := l.firstAck
		l.mu.Unlock()
		if !first.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no batch acknowledged 30 s after the database came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // steady load after recovery
	close(stop)
	<-done
	if r := call(t, http.MethodGet, s.public+"/readyz", "", nil); r.Status != http.StatusOK {
		t.Errorf("readyz after recovery: %d", r.Status)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	var wantSum int64
	for s := range l.acked {
		wantSum += s
	}
	f := figures{
		sent:       l.sent,
		acked:      int64(len(l.acked)),
		duplicates: l.dupAnswer,
		stored:     mixedCount(t, dbURL, "SELECT coalesce(sum(count), 0)::bigint FROM rollups WHERE schema_name = 'fault.event' AND dims->>'os' = 'android'"),
		seqSum:     dbCount(t, dbURL, seqSum("r.schema_name = 'fault.event' AND r.dims->>'os' = 'android'")),
		wantSum:    wantSum,
		recovery:   l.firstAck.Sub(back),
	}
	f.log(t, "outage")
	t.Logf("outage %v: answers %v; probes %d (503: %d), slowest probe %v", outage, l.kinds, probes, probe503, probeSlowest.Round(time.Millisecond))
	if f.acked != f.sent {
		t.Errorf("%d of %d events acknowledged after the drain", f.acked, f.sent)
	}
	if f.stored != f.acked || f.seqSum != f.wantSum {
		t.Errorf("stored %d events with seq sum %d; want each of %d acknowledged events once (sum %d)", f.stored, f.seqSum, f.acked, f.wantSum)
	}
	if probe503 == 0 {
		t.Error("no 503 during the outage")
	}
	if probeSlowest > 5*time.Second {
		t.Errorf("slowest answer during the outage %v", probeSlowest)
	}
	for k, n := range l.kinds {
		switch k {
		case "acked", "acked_duplicate", "inner_503", "outer_503":
		default:
			t.Errorf("%d answers %s", n, k)
		}
	}
}
