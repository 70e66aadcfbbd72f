package e2e

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/e2e/e2etest"
	"github.com/veil-telemetry/veil/sdk"
)

// registerSchema registers the schema document at path over the admin
// REST API.
func (s *stack) registerSchema(t *testing.T, path string) {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	e2etest.RegisterSchema(t, client, s.admin, s.token, doc)
}

// aggregates is the REST form of GetAggregatesResponse.
type aggregates struct {
	Groups []struct {
		Bucket   time.Time      `json:"bucket"`
		Group    map[string]any `json:"group"`
		Count    int64          `json:"count,string"`
		Measures map[string]struct {
			Count int64   `json:"count,string"`
			Sum   float64 `json:"sum"`
		} `json:"measures"`
	} `json:"groups"`
	Suppressed int `json:"suppressed_groups"`
	K          int `json:"k"`
}

// total sums the counts of every group.
func (a *aggregates) total() int64 {
	var n int64
	for _, g := range a.Groups {
		n += g.Count
	}
	return n
}

// countsBy sums the counts of the groups by the value of one dimension,
// over every time bucket.
func (a *aggregates) countsBy(dim string) map[string]int64 {
	m := map[string]int64{}
	for _, g := range a.Groups {
		v, _ := g.Group[dim].(string)
		m[v] += g.Count
	}
	return m
}

// settle waits until the mixer has completed two checks after the call:
// with --mix-k 1, every request acknowledged before it is then in the
// rollups and the outcome counts.
func (s *stack) settle(t *testing.T) {
	t.Helper()
	checks := func() float64 {
		r := call(t, "GET", s.admin+"/metrics", s.token, "", nil)
		for _, line := range strings.Split(string(r.Body), "\n") {
			if v, ok := strings.CutPrefix(line, "veil_mixer_checks_total "); ok {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err == nil {
					return f
				}
			}
		}
		t.Fatalf("no veil_mixer_checks_total in /metrics")
		return 0
	}
	start := checks()
	e2etest.Eventually(t, time.Minute, "the mixer to check twice", func() bool { return checks() >= start+2 })
}

func (s *stack) aggregates(t *testing.T, schema string, version int, groupBy string) *aggregates {
	t.Helper()
	s.settle(t)
	q := url.Values{"schema": {schema}, "version": {strconv.Itoa(version)}, "group_by": {groupBy}}
	r := call(t, "GET", s.admin+"/v1/aggregates?"+q.Encode(), s.token, "", nil)
	if r.Status != 200 {
		t.Fatalf("aggregates: %d %s", r.Status, r.Body)
	}
	var a aggregates
	if err := json.Unmarshal(r.Body, &a); err != nil {
		t.Fatalf("aggregates: %v: %s", err, r.Body)
	}
	return &a
}

// acceptedStat returns the accepted total of /v1/stats.
func (s *stack) acceptedStat(t *testing.T) int64 {
	t.Helper()
	s.settle(t)
	r := call(t, "GET", s.admin+"/v1/stats", s.token, "", nil)
	var st struct {
		Accepted int64 `json:"accepted,string"`
		Rejected int64 `json:"rejected,string"`
	}
	if err := json.Unmarshal(r.Body, &st); err != nil || r.Status != 200 {
		t.Fatalf("stats: %d %v %s", r.Status, err, r.Body)
	}
	if st.Rejected != 0 {
		t.Errorf("stats: %d rejected, want 0", st.Rejected)
	}
	return st.Accepted
}

// resultTally counts SDK results by status.
type resultTally struct {
	mu sync.Mutex
	n  map[sdk.Status]int
}

func (r *resultTally) add(res sdk.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[sdk.Status]int{}
	}
	r.n[res.Status]++
}

func (r *resultTally) get(s sdk.Status) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[s]
}

// TestSDKTenThousandEvents records 10,000 events with the Go SDK, which
// delivers them through `veil relay` to `veil serve` over Oblivious HTTP,
// and reads the same count back from the aggregates and the stats.
func TestSDKTenThousandEvents(t *testing.T) {
	const n = 10000
	s := startStackWith(t, stackOptions{relayArgs: fastRelay})
	s.registerSchema(t, "testdata/app.launch.json")

	var tally resultTally
	c, err := sdk.New(sdk.Config{
		RelayURL:       s.relayAt + "/gateway",
		MaxQueueEvents: n, // Record outruns delivery; keep every event
		OnResult:       tally.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	oses := [...]string{"ios", "android"}
	var wantSum float64
	for i := range n {
		// Two dimension values only, so no group falls below k.
		ms := i % 1000
		wantSum += float64(ms)
		if err := c.Record(ctx, "app.launch", 1, map[string]any{"os": oses[i%2], "app_version": "2.7", "cold_start_ms": ms}); err != nil {
			t.Fatalf("Record %d: %v", i, err)
		}
	}
	recorded := time.Since(began)
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	took := time.Since(began)
	st := c.Stats()
	if got := tally.get(sdk.StatusAccepted); got != n || st.Accepted != n || st.Dropped != 0 || st.Rejected != 0 {
		t.Fatalf("SDK: %d accepted by OnResult, stats %+v; want %d accepted", got, st, n)
	}
	t.Logf("%d events: recorded in %v, delivered in %v (%.0f events/s), %d requests, %d retries, %d key fetches",
		n, recorded.Round(time.Millisecond), took.Round(time.Millisecond), n/took.Seconds(), st.Requests, st.Retries, st.KeyFetches)

	a := s.aggregates(t, "app.launch", 1, "os")
	if a.Suppressed != 0 {
		t.Errorf("%d groups suppressed, want 0", a.Suppressed)
	}
	if got := a.total(); got != n {
		t.Errorf("aggregates count %d, want %d", got, n)
	}
	if by := a.countsBy("os"); by["ios"] != n/2 || by["android"] != n/2 {
		t.Errorf("aggregates by os %v, want %d each", by, n/2)
	}
	var sum float64
	var count int64
	for _, g := range a.Groups {
		sum += g.Measures["cold_start_ms"].Sum
		count += g.Measures["cold_start_ms"].Count
	}
	if sum != wantSum || count != n {
		t.Errorf("cold_start_ms: count %d sum %v, want %d and %v", count, sum, n, wantSum)
	}
	if got := s.acceptedStat(t); got != n {
		t.Errorf("stats: %d accepted, want %d", got, n)
	}
}
