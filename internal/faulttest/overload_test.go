package faulttest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/e2e/e2etest"
	"github.com/veil-telemetry/veil/internal/loadgen"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
)

// maxServeRSS bounds veil serve's peak resident set under overload.
const maxServeRSS = 512 << 10 // KiB

// TestOverload offers three times the saturating request rate, open loop,
// for several seconds (30 s in the long run): veil serve does not crash,
// its peak RSS stays bounded, excess requests are answered 503, and a
// lone request is served at normal latency within seconds of the load
// dropping.
func TestOverload(t *testing.T) {
	dbURL := storagetest.URL(t)
	s := startServe(t, serveOpts{dbURL: dbURL, extra: []string{"--log-level", "warn"}})
	ctx := context.Background()
	s.registerSchema(t, []byte(loadgen.SchemaDocument))
	s.registerSchema(t, readFile(t, "testdata/fault.event.json"))
	cfgs, err := loadgen.FetchKeys(ctx, httpc, s.public+"/ohttp-keys")
	if err != nil {
		t.Fatal(err)
	}
	work := &loadgen.OHTTP{URL: s.public + "/gateway", Key: cfgs[0], Events: 10, CheckResults: true}

	// Baseline latency of a lone client, then the saturating rate.
	base, err := loadgen.Run(ctx, loadgen.Config{Workload: work, Concurrency: 1, Requests: 40})
	if err != nil {
		t.Fatal(err)
	}
	baseP50, baseP99 := base.Latency.Quantile(0.5), base.Latency.Quantile(0.99)
	sat, err := loadgen.Run(ctx, loadgen.Config{Workload: work, Concurrency: 32, Duration: pick(3*time.Second, 10*time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	rate := sat.RequestsPerSecond()
	t.Logf("baseline p50 %v p99 %v; saturation %.0f req/s (%.0f events/s), errors %v",
		baseP50, baseP99, rate, sat.EventsPerSecond(), sat.Errors)
	if rate <= 0 {
		t.Fatal("no successful request at saturation")
	}

	dur := pick(8*time.Second, 30*time.Second)
	over, err := loadgen.Run(ctx, loadgen.Config{
		Workload:    work,
		Client:      loadgen.NewClient(2048),
		Concurrency: 2048,
		Rate:        3 * rate,
		Duration:    dur,
		Timeout:     10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	if s.proc.Exited() {
		t.Fatal("veil serve exited under overload")
	}
	// Recovery: a lone request back at normal latency.
	normal := max(4*baseP99, 100*time.Millisecond)
	snd := newSender(t, s.public, httpc)
	var recovery time.Duration
	for {
		r := snd.send(ctx, e2etest.Inner{Content: batchJSON(e2etest.NewBatchID(), []ev{seqEv("ios", 1)})}.Marshal(t))
		if k, ok, _ := classify(r, 1); ok && r.latency < normal {
			recovery = time.Since(end)
			break
		} else if time.Since(end) > 30*time.Second {
			t.Fatalf("not back to normal latency (%v) 30 s after the overload: last %s in %v", normal, k, r.latency)
		}
		time.Sleep(50 * time.Millisecond)
	}
	hwm := hwmKiB(t, s.proc)
	var unavailable int64
	for k, n := range over.Errors {
		if strings.Contains(k, "503") {
			unavailable += n
		}
	}
	offered := over.OK + over.Failed
	stored := mixedCount(t, dbURL, "SELECT coalesce(sum(count), 0)::bigint FROM rollups WHERE schema_name = 'bench.session'")
	// Events (10 per request); stored includes the baseline and saturation runs.
	f := figures{sent: 10 * offered, acked: 10 * over.OK, stored: stored, maxRSSKiB: hwm, recovery: recovery}
	f.log(t, "overload")
	t.Logf("overload %v at %.0f req/s offered (3 × %.0f): ok %d (%.0f req/s), failed %d, 503s %d, errors %v; ok p50 %v p99 %v max %v",
		dur, 3*rate, rate, over.OK, over.RequestsPerSecond(), over.Failed, unavailable, over.Errors,
		over.Latency.Quantile(0.5), over.Latency.Quantile(0.99), over.Latency.Max())
	if hwm > maxServeRSS {
		t.Errorf("peak RSS %d KiB, bound %d KiB", hwm, maxServeRSS)
	}
	if recovery > 10*time.Second {
		t.Errorf("normal latency only %v after the load dropped", recovery)
	}
	// Every acknowledged batch is stored (ok counts batches of 10).
	if stored < 10*(base.OK+sat.OK+over.OK) {
		t.Errorf("stored %d events, fewer than the %d acknowledged", stored, 10*(base.OK+sat.OK+over.OK))
	}
	// What failed failed as overload, never as a server error.
	for k, n := range over.Errors {
		if strings.Contains(k, "500") || strings.Contains(k, "502") || strings.Contains(k, "decapsulate") || strings.Contains(k, "results") {
			t.Errorf("%d requests failed as %s", n, k)
		}
	}
	if r := call(t, http.MethodGet, s.public+"/readyz", "", nil); r.Status != http.StatusOK {
		t.Errorf("readyz after the overload: %d", r.Status)
	}
}
