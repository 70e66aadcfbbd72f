package faulttest

import (
	"context"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/storage/storagetest"
	"github.com/veil-telemetry/veil/sdk"
)

// figures are a scenario's numbers, logged for docs/reliability.md.
type figures struct {
	sent, acked, stored, duplicates int64
	// seqSum and wantSum: the sum of the stored events' seq measure, and
	// that of the events that should be stored once each.
	seqSum, wantSum int64
	maxRSSKiB       int64
	recovery        time.Duration
}

func (f figures) log(t *testing.T, scenario string) {
	t.Helper()
	t.Logf("FIGURES %s: sent=%d acknowledged=%d stored=%d seq_sum=%d/%d duplicates_answered=%d max_rss=%.1fMiB recovery=%v",
		scenario, f.sent, f.acked, f.stored, f.seqSum, f.wantSum, f.duplicates, float64(f.maxRSSKiB)/1024, f.recovery.Round(time.Millisecond))
}

// TestCrash kills veil serve with SIGKILL while SDK clients with an
// on-disk queue send steadily, restarts it on the same data directory and
// lets the clients' retries finish: every event ends accepted or
// duplicate, and the database holds each exactly once.
func TestCrash(t *testing.T) {
	dbURL := storagetest.URL(t)
	s := startServe(t, serveOpts{dbURL: dbURL})
	s.registerSchema(t, readFile(t, "testdata/fault.event.json"))

	const clients = 4
	perClient := pick(150, 2500)
	kills := pick(2, 5)
	var (
		mu      sync.Mutex
		results = map[sdk.Status]int64{}
		reasons = map[string]int64{}
	)
	cs := make([]*sdk.Client, clients)
	for i := range cs {
		c, err := sdk.New(sdk.Config{
			RelayURL:       s.public + "/gateway",
			HTTPClient:     &http.Client{Timeout: 5 * time.Second},
			MaxBatchEvents: 10,
			FlushInterval:  20 * time.Millisecond,
			MaxRetryWait:   300 * time.Millisecond,
			QueueDir:       filepath.Join(t.TempDir(), "queue"),
			OnResult: func(r sdk.Result) {
				mu.Lock()
				results[r.Status]++
				if r.Reason != "" {
					reasons[r.Reason]++
				}
				mu.Unlock()
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		cs[i] = c
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	pace := 4 * time.Millisecond
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perClient {
				seq := int64(i*perClient + j)
				if err := c.Record(ctx, "fault.event", 1, map[string]any{"os": "ios", "seq": seq}); err != nil {
					t.Errorf("record %d: %v", seq, err)
				}
				time.Sleep(pace)
			}
		}()
	}
	// Kill at spread-out moments of the run, restart at once.
	total := time.Duration(perClient) * pace
	var recovery time.Duration
	for k := range kills {
		time.Sleep(total / time.Duration(kills+1))
		s.proc.Kill()
		t.Logf("kill %d: serve killed with SIGKILL", k+1)
		time.Sleep(200 * time.Millisecond)
		recovery = max(recovery, s.restart(t))
	}
	wg.Wait()
	for _, c := range cs {
		fctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		if err := c.Flush(fctx); err != nil {
			t.Errorf("flush: %v", err)
		}
		cancel()
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		c.Close(cctx)
		cancel()
	}
	var st sdk.Stats
	for _, c := range cs {
		x := c.Stats()
		st.Recorded += x.Recorded
		st.Accepted += x.Accepted
		st.Duplicate += x.Duplicate
		st.Retries += x.Retries
	}
	sent := int64(clients * perClient)
	f := figures{
		sent:       sent,
		acked:      int64(st.Accepted + st.Duplicate),
		duplicates: int64(st.Duplicate),
		stored:     mixedCount(t, dbURL, "SELECT coalesce(sum(count), 0)::bigint FROM rollups WHERE schema_name = 'fault.event'"),
		seqSum:     dbCount(t, dbURL, seqSum("r.schema_name = 'fault.event'")),
		wantSum:    sent * (sent - 1) / 2, // seq 0 … sent-1
		recovery:   recovery,
	}
	f.log(t, "crash")
	t.Logf("client retries=%d results=%v reasons=%v", st.Retries, results, reasons)
	mu.Lock()
	defer mu.Unlock()
	if results[sdk.StatusAccepted]+results[sdk.StatusDuplicate] != sent {
		t.Errorf("results %v: want all %d events accepted or duplicate", results, sent)
	}
	if f.stored != sent || f.seqSum != f.wantSum {
		t.Errorf("stored %d events with seq sum %d; want each of %d exactly once (sum %d)", f.stored, f.seqSum, sent, f.wantSum)
	}
	if n := dbCount(t, dbURL, "SELECT coalesce(sum(count), 0)::bigint FROM rollups WHERE schema_name = 'fault.event'"); n != sent {
		t.Errorf("rollups count %d events, want %d", n, sent)
	}
}
