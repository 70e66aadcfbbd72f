package sdk_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/veil-telemetry/veil/bhttp"
	"github.com/veil-telemetry/veil/ohttp"
	"github.com/veil-telemetry/veil/sdk"
)

// collector gathers OnResult calls.
type collector struct {
	mu      sync.Mutex
	results []sdk.Result
}

func (c *collector) hook(r sdk.Result) {
	c.mu.Lock()
	c.results = append(c.results, r)
	c.mu.Unlock()
}

func (c *collector) all() []sdk.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.results)
}

func (c *collector) count(s sdk.Status) int {
	n := 0
	for _, r := range c.all() {
		if r.Status == s {
			n++
		}
	}
	return n
}

// newClient starts a client for g, closing it when the test ends.
func newClient(t *testing.T, g *fakeGateway, cfg sdk.Config) (*sdk.Client, *collector) {
	t.Helper()
	col := &collector{}
	if cfg.RelayURL == "" {
		cfg.RelayURL = g.relayURL()
	}
	if cfg.OnResult == nil {
		cfg.OnResult = col.hook
	}
	c, err := sdk.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		c.Close(ctx)
	})
	return c, col
}

func record(t *testing.T, c *sdk.Client, n int) {
	t.Helper()
	for i := range n {
		if err := c.Record(context.Background(), "app.launch", 1, map[string]any{"os": "ios", "i": i}); err != nil {
			t.Fatalf("Record %d: %v", i, err)
		}
	}
}

func flush(t *testing.T, c *sdk.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// eventIndexes returns the "i" field of every event the gateway saw, in
// the order it saw them (retries included).
func eventIndexes(reqs []*gwRequest) []int {
	var is []int
	for _, r := range reqs {
		for _, e := range r.Events {
			is = append(is, int(e.Fields["i"].(float64)))
		}
	}
	return is
}

func sizes(reqs []*gwRequest) []int {
	var n []int
	for _, r := range reqs {
		n = append(n, len(r.Events))
	}
	return n
}

// waitArmed returns the next timer the client arms whose duration
// satisfies ok, skipping others (such as the batching interval).
func waitArmed(t *testing.T, clk *sdk.FakeClock, ok func(time.Duration) bool) time.Duration {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case d := <-clk.Armed:
			if ok(d) {
				return d
			}
		case <-deadline:
			t.Fatal("no timer armed")
		}
	}
}

// eventually polls cond until it holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

var batchIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

func TestBatchingByCount(t *testing.T) {
	g := newFakeGateway(t)
	c, col := newClient(t, g, sdk.Config{MaxBatchEvents: 10})
	record(t, c, 25)
	flush(t, c)

	reqs := g.seen()
	if got := sizes(reqs); !slices.Equal(got, []int{10, 10, 5}) {
		t.Errorf("batch sizes = %v, want [10 10 5]", got)
	}
	if got, want := eventIndexes(reqs), seq(0, 25); !slices.Equal(got, want) {
		t.Errorf("event order = %v", got)
	}
	ids := map[string]bool{}
	for _, r := range reqs {
		if !batchIDPattern.MatchString(r.BatchID) {
			t.Errorf("batch_id %q is not 128 bits of base64url", r.BatchID)
		}
		if raw, _ := base64.RawURLEncoding.DecodeString(r.BatchID); len(raw) != 16 {
			t.Errorf("batch_id %q decodes to %d bytes", r.BatchID, len(raw))
		}
		ids[r.BatchID] = true
	}
	if len(ids) != 3 {
		t.Errorf("batch ids not distinct: %v", ids)
	}
	if n := col.count(sdk.StatusAccepted); n != 25 {
		t.Errorf("accepted results = %d, want 25", n)
	}
	for i, r := range col.all() {
		if r.Seq != uint64(i+1) || r.Schema != "app.launch" || r.Version != 1 {
			t.Errorf("result %d = %+v", i, r)
		}
	}
	st := c.Stats()
	if st.Recorded != 25 || st.Accepted != 25 || st.Requests != 3 || st.Retries != 0 || st.KeyFetches != 1 || st.Queued != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func TestBatchingByBytes(t *testing.T) {
	g := newFakeGateway(t)
	const limit = 2048
	c, _ := newClient(t, g, sdk.Config{MaxBatchBytes: limit, DisableCompression: true})
	pad := strings.Repeat("x", 300)
	for i := range 20 {
		if err := c.Record(context.Background(), "app.launch", 1, map[string]any{"i": i, "pad": pad}); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, c)
	reqs := g.seen()
	if len(reqs) < 4 {
		t.Fatalf("%d requests for 20 events of 300+ bytes under a %d byte limit", len(reqs), limit)
	}
	for _, r := range reqs {
		unpadded, err := r.Request.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if len(unpadded) > limit {
			t.Errorf("request of %d events is %d bytes, over MaxBatchBytes %d", len(r.Events), len(unpadded), limit)
		}
	}
	if got := eventIndexes(reqs); !slices.Equal(got, seq(0, 20)) {
		t.Errorf("event order = %v", got)
	}

	err := c.Record(context.Background(), "app.launch", 1, map[string]any{"pad": strings.Repeat("y", limit)})
	if !errors.Is(err, sdk.ErrEventTooLarge) {
		t.Errorf("oversized event: err = %v, want ErrEventTooLarge", err)
	}
}

func TestBatchingByInterval(t *testing.T) {
	// In a synctest bubble the Client's system clock is the bubble's: the
	// interval elapses only when every goroutine is blocked, so "nothing
	// was sent before the interval" is checked exactly, not after a sleep.
	// The gateway's listener is made outside: a socket never counts as
	// blocked inside a bubble.
	g := newFakeGateway(t)
	synctest.Test(t, func(t *testing.T) {
		c, col := newClient(t, g, sdk.Config{FlushInterval: 5 * time.Second, HTTPClient: g.inProcess()})
		record(t, c, 3)
		synctest.Wait()
		if n := len(g.seen()); n != 0 {
			t.Fatalf("%d requests before the interval elapsed", n)
		}
		time.Sleep(4 * time.Second)
		synctest.Wait()
		if n := len(g.seen()); n != 0 {
			t.Fatalf("%d requests 4s into a 5s interval", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n := col.count(sdk.StatusAccepted); n != 3 {
			t.Fatalf("accepted = %d at the interval, want 3", n)
		}
		if got := sizes(g.seen()); !slices.Equal(got, []int{3}) {
			t.Errorf("batch sizes = %v, want [3]", got)
		}
	})
}

func TestPaddingBuckets(t *testing.T) {
	for _, tc := range []struct{ n, want int }{
		{0, 1 << 10}, {1, 1 << 10}, {1024, 1 << 10}, {1025, 4 << 10}, {4096, 4 << 10},
		{4097, 16 << 10}, {16 << 10, 16 << 10}, {16<<10 + 1, 64 << 10}, {64 << 10, 64 << 10},
		{64<<10 + 1, 128 << 10}, {200000, 256 << 10},
	} {
		if got := sdk.PaddedSize(tc.n); got != tc.want {
			t.Errorf("PaddedSize(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}

	// What the gateway decrypts is always a bucket's size, and the
	// padding is valid Binary HTTP (the fake decodes it).
	g := newFakeGateway(t)
	c, _ := newClient(t, g, sdk.Config{DisableCompression: true, MaxBatchEvents: 1})
	for _, n := range []int{1, 2000, 10000, 30000} {
		if err := c.Record(context.Background(), "app.launch", 1, map[string]any{"pad": strings.Repeat("p", n)}); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, c)
	var got []int
	for _, r := range g.seen() {
		got = append(got, r.MsgLen)
	}
	if want := []int{1 << 10, 4 << 10, 16 << 10, 64 << 10}; !slices.Equal(got, want) {
		t.Errorf("decapsulated sizes = %v, want %v", got, want)
	}
}

func TestBackoff(t *testing.T) {
	retryAfter := func(s string) http.Header { return http.Header{"Retry-After": {s}} }
	for _, tc := range []struct {
		name     string
		answers  []gwAnswer // then accept
		min, max []time.Duration
	}{{
		name:    "inner 503 Retry-After",
		answers: []gwAnswer{problemWith(503, "about:blank", bhttp.Field{Name: "retry-after", Value: "7"})},
		min:     []time.Duration{7 * time.Second},
		max:     []time.Duration{8 * time.Second},
	}, {
		name:    "inner 429 Retry-After",
		answers: []gwAnswer{problemWith(429, "about:blank", bhttp.Field{Name: "retry-after", Value: "30"})},
		min:     []time.Duration{30 * time.Second},
		max:     []time.Duration{31 * time.Second},
	}, {
		name:    "outer 503 Retry-After",
		answers: []gwAnswer{{OuterStatus: 503, OuterHeader: retryAfter("120")}},
		min:     []time.Duration{120 * time.Second},
		max:     []time.Duration{121 * time.Second},
	}, {
		name:    "outer 429 Retry-After date",
		answers: []gwAnswer{{OuterStatus: 429, OuterHeader: retryAfter(clockStart.Add(time.Minute).Format(http.TimeFormat))}},
		min:     []time.Duration{time.Minute},
		max:     []time.Duration{61 * time.Second},
	}, {
		name:    "full jitter, doubling",
		answers: []gwAnswer{{OuterStatus: 502}, {OuterStatus: 504}, {OuterStatus: 503}},
		min:     []time.Duration{0, 0, 0},
		max:     []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGateway(t)
			g.setScript(func(r *gwRequest) gwAnswer {
				if r.N < len(tc.answers) {
					return tc.answers[r.N]
				}
				return gwAnswer{}
			})
			clk := sdk.NewFakeClock(clockStart)
			cfg := sdk.Config{FlushInterval: time.Hour}
			sdk.SetClock(&cfg, clk)
			c, col := newClient(t, g, cfg)
			record(t, c, 2)
			done := make(chan error, 1)
			go func() { done <- c.Flush(context.Background()) }()
			for i := range tc.answers {
				d := waitArmed(t, clk, func(d time.Duration) bool { return d != time.Hour })
				if d <= tc.min[i] && tc.min[i] > 0 || d < tc.min[i] || d > tc.max[i] {
					t.Errorf("wait %d = %v, want in [%v, %v]", i, d, tc.min[i], tc.max[i])
				}
				if n := len(g.seen()); n != i+1 {
					t.Errorf("%d requests before wait %d elapsed", n, i)
				}
				clk.Advance(d)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			reqs := g.seen()
			if len(reqs) != len(tc.answers)+1 {
				t.Fatalf("%d requests, want %d", len(reqs), len(tc.answers)+1)
			}
			for _, r := range reqs[1:] {
				if r.BatchID != reqs[0].BatchID {
					t.Errorf("retry changed batch_id")
				}
				if string(r.Enc) == string(reqs[0].Enc) {
					t.Errorf("retry reused the encapsulation")
				}
				if r.Date.Before(reqs[0].Date) {
					t.Errorf("retry Date %v before first %v", r.Date, reqs[0].Date)
				}
			}
			if n := col.count(sdk.StatusAccepted); n != 2 {
				t.Errorf("accepted = %d, want 2", n)
			}
			if st := c.Stats(); st.Retries != uint64(len(tc.answers)) {
				t.Errorf("Stats.Retries = %d, want %d", st.Retries, len(tc.answers))
			}
		})
	}
}

var clockStart = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func problemWith(status int, typ string, extra ...bhttp.Field) gwAnswer {
	return problem(status, typ, extra...)
}

func TestMaxAttempts(t *testing.T) {
	g := newFakeGateway(t)
	g.setScript(func(*gwRequest) gwAnswer { return gwAnswer{OuterStatus: 503} })
	clk := sdk.NewFakeClock(clockStart)
	cfg := sdk.Config{MaxAttempts: 3, FlushInterval: time.Hour}
	sdk.SetClock(&cfg, clk)
	c, col := newClient(t, g, cfg)
	record(t, c, 4)
	done := make(chan error, 1)
	go func() { done <- c.Flush(context.Background()) }()
	for range 2 {
		clk.Advance(waitArmed(t, clk, func(d time.Duration) bool { return d != time.Hour }))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(g.seen()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	for _, r := range col.all() {
		if r.Status != sdk.StatusDropped || r.Reason != sdk.ReasonRetriesExhausted {
			t.Errorf("result %+v, want dropped %s", r, sdk.ReasonRetriesExhausted)
		}
	}
}

func TestDateCorrection(t *testing.T) {
	g := newFakeGateway(t)
	clk := sdk.NewFakeClock(clockStart)
	// The client's clock is 8 minutes slow: outside the gateway's 5 minute
	// window, inside it once corrected by at most 5 minutes.
	gatewayNow := func() time.Time { return clk.Now().Add(8 * time.Minute) }
	g.setScript(func(r *gwRequest) gwAnswer {
		if d := r.Date.Sub(gatewayNow()); d < -5*time.Minute || d > 5*time.Minute {
			return problem(400, "https://veil.example/problems#date",
				bhttp.Field{Name: "date", Value: gatewayNow().Format(http.TimeFormat)})
		}
		return gwAnswer{}
	})
	cfg := sdk.Config{}
	sdk.SetClock(&cfg, clk)
	c, col := newClient(t, g, cfg)
	record(t, c, 2)
	flush(t, c)
	record(t, c, 1)
	flush(t, c)
	reqs := g.seen()
	// Each batch: refused, then corrected. The correction is not kept
	// for the next batch (TestDateCorrectionBounded).
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 4 (one Date retry per batch)", len(reqs))
	}
	if reqs[0].BatchID != reqs[1].BatchID || reqs[2].BatchID != reqs[3].BatchID {
		t.Error("Date retry changed batch_id")
	}
	if n := col.count(sdk.StatusAccepted); n != 3 {
		t.Errorf("accepted = %d, want 3", n)
	}

	// A gateway that keeps refusing the Date gets one retry, then the
	// events are dropped.
	g.setScript(func(r *gwRequest) gwAnswer {
		return problem(400, "https://veil.example/problems#date",
			bhttp.Field{Name: "date", Value: clockStart.Add(-time.Hour).Format(http.TimeFormat)})
	})
	record(t, c, 1)
	flush(t, c)
	if rs := col.all(); len(rs) != 4 {
		t.Fatalf("%d results, want 4", len(rs))
	} else if got := rs[3]; got.Status != sdk.StatusDropped || got.Reason != sdk.ReasonClockSkew {
		t.Errorf("result = %+v, want dropped clock_skew", got)
	}
	if n := len(g.seen()); n != 6 {
		t.Errorf("%d requests, want 6", n)
	}
}

func TestKeyRotation(t *testing.T) {
	g := newFakeGateway(t)
	c, col := newClient(t, g, sdk.Config{})
	record(t, c, 1)
	flush(t, c)
	g.rotate(7)
	record(t, c, 1)
	flush(t, c)
	record(t, c, 1)
	flush(t, c)

	reqs := g.seen()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 4 (the key problem's retry included)", len(reqs))
	}
	if got := []uint8{reqs[0].KeyID, reqs[1].KeyID, reqs[2].KeyID, reqs[3].KeyID}; !slices.Equal(got, []uint8{1, 1, 7, 7}) {
		t.Errorf("key ids = %v, want [1 1 7 7]", got)
	}
	if n := g.fetches(); n != 2 {
		t.Errorf("key fetches = %d, want 2 (cached per max-age, refetched once on the key problem)", n)
	}
	if n := col.count(sdk.StatusAccepted); n != 3 {
		t.Errorf("accepted = %d, want 3", n)
	}
}

func TestOuterClientErrorRefetchesOnce(t *testing.T) {
	g := newFakeGateway(t)
	g.setScript(func(r *gwRequest) gwAnswer {
		if r.N < 2 {
			return gwAnswer{OuterStatus: http.StatusBadRequest}
		}
		return gwAnswer{}
	})
	clk := sdk.NewFakeClock(clockStart)
	cfg := sdk.Config{FlushInterval: time.Hour}
	sdk.SetClock(&cfg, clk)
	c, col := newClient(t, g, cfg)
	record(t, c, 1)
	done := make(chan error, 1)
	go func() { done <- c.Flush(context.Background()) }()
	// The first 400 refetches the keys and retries at once; the second
	// backs off rather than hammering.
	clk.Advance(waitArmed(t, clk, func(d time.Duration) bool { return d != time.Hour }))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(g.seen()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	if n := g.fetches(); n != 3 {
		t.Errorf("key fetches = %d, want 3", n)
	}
	if n := col.count(sdk.StatusAccepted); n != 1 {
		t.Errorf("accepted = %d", n)
	}
}

func TestMalformedKeyDocumentRefused(t *testing.T) {
	good := func(t *testing.T) []byte {
		k, err := ohttp.GenerateKey(nil, 1, ohttp.KEMX25519, []ohttp.SymmetricSuite{ohttp.DefaultSuite})
		if err != nil {
			t.Fatal(err)
		}
		doc, err := ohttp.MarshalKeyConfigs([]*ohttp.KeyConfig{&k.Config})
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	for _, tc := range []struct {
		name string
		doc  func(t *testing.T) []byte
	}{
		{"empty", func(*testing.T) []byte { return []byte{} }},
		{"garbage", func(*testing.T) []byte { return []byte("not a key config") }},
		{"truncated", func(t *testing.T) []byte { d := good(t); return d[:len(d)-3] }},
		{"valid config then junk", func(t *testing.T) []byte { return append(good(t), 0x00, 0x05, 0x01) }},
		{"length past the end", func(t *testing.T) []byte { d := good(t); d[1] += 10; return d }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGateway(t)
			g.setKeyDoc(tc.doc(t))
			c, col := newClient(t, g, sdk.Config{MaxAttempts: 1})
			record(t, c, 2)
			flush(t, c)
			if n := len(g.seen()); n != 0 {
				t.Errorf("%d requests sent with a malformed key document", n)
			}
			if n := col.count(sdk.StatusDropped); n != 2 {
				t.Errorf("dropped = %d, want 2", n)
			}
		})
	}
}

func TestPostQuantumPreferred(t *testing.T) {
	for _, pq := range []bool{false, true} {
		g := newFakeGateway(t, ohttp.KEMX25519, ohttp.KEMXWing)
		c, col := newClient(t, g, sdk.Config{PostQuantum: pq})
		record(t, c, 1)
		flush(t, c)
		want := ohttp.KEMX25519
		if pq {
			want = ohttp.KEMXWing
		}
		if r := g.seen()[0]; r.KEM != want || r.Suite != ohttp.DefaultSuite {
			t.Errorf("PostQuantum=%v: KEM %v suite %v, want %v %v", pq, r.KEM, r.Suite, want, ohttp.DefaultSuite)
		}
		if col.count(sdk.StatusAccepted) != 1 {
			t.Errorf("PostQuantum=%v: not accepted", pq)
		}
	}
	// Only X25519 offered: PostQuantum falls back to it.
	g := newFakeGateway(t, ohttp.KEMX25519)
	c, _ := newClient(t, g, sdk.Config{PostQuantum: true})
	record(t, c, 1)
	flush(t, c)
	if r := g.seen()[0]; r.KEM != ohttp.KEMX25519 {
		t.Errorf("KEM %v, want X25519 fallback", r.KEM)
	}
}

// TestSplitOn413 checks that the gateway's own 413, inside its encrypted
// answer, splits a batch. An outer 413 does not (TestOuter413NeverSplits).
func TestSplitOn413(t *testing.T) {
	g := newFakeGateway(t)
	g.setScript(func(r *gwRequest) gwAnswer {
		if len(r.Events) > 4 {
			return problem(413, "about:blank")
		}
		return gwAnswer{}
	})
	c, col := newClient(t, g, sdk.Config{MaxBatchEvents: 10})
	record(t, c, 10)
	flush(t, c)
	reqs := g.seen()
	if got, want := sizes(reqs), []int{10, 5, 2, 3, 5, 2, 3}; !slices.Equal(got, want) {
		t.Errorf("request sizes = %v, want %v", got, want)
	}
	ids := map[string]bool{}
	for _, r := range reqs {
		if ids[r.BatchID] {
			t.Errorf("batch_id reused across split batches")
		}
		ids[r.BatchID] = true
	}
	var accepted []int
	for _, r := range reqs {
		if len(r.Events) <= 4 {
			for _, e := range r.Events {
				accepted = append(accepted, int(e.Fields["i"].(float64)))
			}
		}
	}
	if !slices.Equal(accepted, seq(0, 10)) {
		t.Errorf("delivered order = %v", accepted)
	}
	rs := col.all()
	if len(rs) != 10 {
		t.Fatalf("%d results", len(rs))
	}
	for i, r := range rs {
		if r.Seq != uint64(i+1) || r.Status != sdk.StatusAccepted {
			t.Errorf("result %d = %+v", i, r)
		}
	}

	// A single event the gateway finds too large is dropped, not looped on.
	g1 := newFakeGateway(t)
	g1.setScript(func(*gwRequest) gwAnswer { return problem(413, "about:blank") })
	c1, col1 := newClient(t, g1, sdk.Config{})
	record(t, c1, 1)
	flush(t, c1)
	if r := col1.all()[0]; r.Status != sdk.StatusDropped || r.Reason != sdk.ReasonTooLarge {
		t.Errorf("result = %+v, want dropped too_large", r)
	}
}

func TestResults(t *testing.T) {
	g := newFakeGateway(t)
	g.setScript(func(r *gwRequest) gwAnswer {
		return gwAnswer{
			Header: []bhttp.Field{{Name: "content-type", Value: "application/json"}},
			Body: []byte(`{"results":[{"status":"accepted"},` +
				`{"index":1,"status":"rejected","reason":"identifier_email","field":"note"},` +
				`{"index":"2","status":"STATUS_DUPLICATE"},` +
				`{"index":3,"status":"rejected","reason":"schema_unknown"}]}`),
		}
	})
	c, col := newClient(t, g, sdk.Config{})
	record(t, c, 5)
	flush(t, c)
	want := []sdk.Result{
		{Seq: 1, Schema: "app.launch", Version: 1, Status: sdk.StatusAccepted},
		{Seq: 2, Schema: "app.launch", Version: 1, Status: sdk.StatusRejected, Reason: "identifier_email", Field: "note"},
		{Seq: 3, Schema: "app.launch", Version: 1, Status: sdk.StatusDuplicate},
		{Seq: 4, Schema: "app.launch", Version: 1, Status: sdk.StatusRejected, Reason: "schema_unknown"},
		{Seq: 5, Schema: "app.launch", Version: 1, Status: sdk.StatusDropped, Reason: sdk.ReasonNoResult},
	}
	if got := col.all(); !slices.Equal(got, want) {
		t.Errorf("results:\n got %+v\nwant %+v", got, want)
	}
	st := c.Stats()
	if st.Accepted != 1 || st.Duplicate != 1 || st.Rejected != 2 || st.Dropped != 1 || st.Retries != 0 {
		t.Errorf("Stats = %+v", st)
	}
	if !want[2].Delivered() || want[1].Delivered() {
		t.Error("Delivered: duplicate counts as delivered, rejected does not")
	}
}

func TestInnerClientErrorDrops(t *testing.T) {
	g := newFakeGateway(t)
	g.setScript(func(*gwRequest) gwAnswer { return problem(403, "about:blank") })
	c, col := newClient(t, g, sdk.Config{})
	record(t, c, 3)
	flush(t, c)
	if n := len(g.seen()); n != 1 {
		t.Errorf("%d requests, want 1 (not retried)", n)
	}
	for _, r := range col.all() {
		if r.Status != sdk.StatusDropped || r.Reason != sdk.ReasonRefused {
			t.Errorf("result %+v, want dropped refused", r)
		}
	}
}

func TestQueueFullDropsNewest(t *testing.T) {
	g := newFakeGateway(t)
	clk := sdk.NewFakeClock(clockStart) // frozen: nothing is cut until Flush
	cfg := sdk.Config{MaxQueueEvents: 5}
	sdk.SetClock(&cfg, clk)
	c, col := newClient(t, g, cfg)
	for i := range 8 {
		err := c.Record(context.Background(), "app.launch", 1, map[string]any{"i": i})
		if wantFull := i >= 5; wantFull != errors.Is(err, sdk.ErrQueueFull) {
			t.Errorf("Record %d: err = %v", i, err)
		}
	}
	dropped := col.all()
	if len(dropped) != 3 {
		t.Fatalf("%d results before Flush, want the 3 dropped", len(dropped))
	}
	for i, r := range dropped {
		if r.Seq != uint64(6+i) || r.Status != sdk.StatusDropped || r.Reason != sdk.ReasonQueueFull {
			t.Errorf("dropped %d = %+v", i, r)
		}
	}
	flush(t, c)
	if got := eventIndexes(g.seen()); !slices.Equal(got, seq(0, 5)) {
		t.Errorf("delivered %v, want the 5 oldest", got)
	}
	st := c.Stats()
	if st.Recorded != 8 || st.Accepted != 5 || st.Dropped != 3 {
		t.Errorf("Stats = %+v", st)
	}
	// Room again once delivered.
	if err := c.Record(context.Background(), "app.launch", 1, nil); err != nil {
		t.Errorf("Record after delivery: %v", err)
	}
}

func TestGzip(t *testing.T) {
	g := newFakeGateway(t)
	c, _ := newClient(t, g, sdk.Config{})
	record(t, c, 50) // repetitive JSON compresses well
	flush(t, c)
	if err := c.Record(context.Background(), "x", 1, map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	flush(t, c)
	reqs := g.seen()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if !reqs[0].Gzipped {
		t.Error("compressible batch sent without gzip")
	}
	if len(reqs[0].Request.Content) >= len(reqs[0].Content) {
		t.Errorf("gzip did not shrink: %d >= %d", len(reqs[0].Request.Content), len(reqs[0].Content))
	}
	if len(reqs[0].Events) != 50 {
		t.Errorf("gunzipped batch holds %d events", len(reqs[0].Events))
	}
	if reqs[1].Gzipped {
		t.Error("tiny batch gzipped")
	}

	g2 := newFakeGateway(t)
	c2, _ := newClient(t, g2, sdk.Config{DisableCompression: true})
	record(t, c2, 50)
	flush(t, c2)
	if g2.seen()[0].Gzipped {
		t.Error("gzip with DisableCompression")
	}
}

// TestNothingIdentifying checks that requests carry nothing that could
// link batches or name the client.
func TestNothingIdentifying(t *testing.T) {
	g := newFakeGateway(t)
	for range 2 {
		c, _ := newClient(t, g, sdk.Config{MaxBatchEvents: 2})
		record(t, c, 4)
		flush(t, c)
	}
	ids := map[string]bool{}
	for _, r := range g.seen() {
		if ids[r.BatchID] {
			t.Error("batch_id repeated across batches")
		}
		ids[r.BatchID] = true
		for _, h := range []string{"User-Agent", "Cookie", "Authorization"} {
			if v := r.Outer.Get(h); v != "" {
				t.Errorf("outer %s: %q", h, v)
			}
		}
		var names []string
		for _, f := range r.Request.Header {
			names = append(names, f.Name)
		}
		if slices.ContainsFunc(names, func(n string) bool {
			return n != "content-type" && n != "date" && n != "content-encoding"
		}) {
			t.Errorf("inner headers %v", names)
		}
		if r.Request.Method != "POST" || r.Request.Scheme != "https" || r.Request.Authority != "veil" || r.Request.Path != "/v1/events" {
			t.Errorf("inner request line %s %s://%s%s", r.Request.Method, r.Request.Scheme, r.Request.Authority, r.Request.Path)
		}
		if string(r.Content[:13]) != `{"batch_id":"` {
			t.Errorf("content starts %q", r.Content[:13])
		}
	}
}

func TestRecordErrors(t *testing.T) {
	g := newFakeGateway(t)
	c, _ := newClient(t, g, sdk.Config{})
	ctx := context.Background()
	for _, tc := range []struct {
		schema  string
		version int
		fields  map[string]any
	}{
		{"", 1, nil},
		{"app.launch", 0, nil},
		{"app.launch", 1, map[string]any{"bad": make(chan int)}},
	} {
		if err := c.Record(ctx, tc.schema, tc.version, tc.fields); !errors.Is(err, sdk.ErrInvalidEvent) {
			t.Errorf("Record(%q, %d, %v) = %v, want ErrInvalidEvent", tc.schema, tc.version, tc.fields, err)
		}
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Record(canceled, "app.launch", 1, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Record with canceled ctx = %v", err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Record(ctx, "app.launch", 1, nil); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("Record after Close = %v, want ErrClosed", err)
	}
	if err := c.Flush(ctx); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("Flush after Close = %v, want ErrClosed", err)
	}
	if err := c.Close(ctx); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	if st := c.Stats(); st.Recorded != 0 {
		t.Errorf("refused events counted: %+v", st)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []sdk.Config{
		{},
		{RelayURL: "relay.example/gateway"},
		{RelayURL: "ftp://relay.example/gateway"},
		{RelayURL: "https://user:pw@relay.example/gateway"},
		{RelayURL: "https://relay.example/gateway", KeysURL: "/keys", InsecureNoKeyPin: true},
		{RelayURL: "https://relay.example/gateway", MaxBatchEvents: -1, InsecureNoKeyPin: true},
		{RelayURL: "https://relay.example/gateway", MaxBatchBytes: 100, InsecureNoKeyPin: true},
	} {
		c, err := sdk.New(cfg)
		if err == nil {
			c.Close(context.Background())
			t.Errorf("New(%+v) succeeded", cfg)
		}
		if errors.Is(err, sdk.ErrKeyPinRequired) {
			t.Errorf("New(%+v): %v; want the field's own error", cfg, err)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	g := newFakeGateway(t)
	c, col := newClient(t, g, sdk.Config{MaxBatchEvents: 37})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if err := c.Record(context.Background(), "app.launch", 1, map[string]any{"w": w, "i": i}); err != nil {
					t.Error(err)
				}
				if i%50 == 0 {
					c.Stats()
				}
			}
			flush(t, c)
		})
	}
	wg.Wait()
	if n := col.count(sdk.StatusAccepted); n != 1600 {
		t.Errorf("accepted = %d, want 1600", n)
	}
	seen := map[uint64]bool{}
	for _, r := range col.all() {
		if seen[r.Seq] {
			t.Errorf("Seq %d reported twice", r.Seq)
		}
		seen[r.Seq] = true
	}
}

func TestCloseLeaksNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		g := newFakeGateway(t)
		defer g.srv.Close()
		for _, cfg := range []sdk.Config{
			{},                      // delivers everything
			{QueueDir: t.TempDir()}, // with a queue directory
		} {
			cfg.RelayURL = g.relayURL()
			c, err := sdk.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			record(t, c, 150)
			if err := c.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		// A client stuck in backoff when Close gives up.
		g.setScript(func(*gwRequest) gwAnswer {
			return gwAnswer{OuterStatus: 503, OuterHeader: http.Header{"Retry-After": {"3600"}}}
		})
		c, err := sdk.New(sdk.Config{RelayURL: g.relayURL()})
		if err != nil {
			t.Fatal(err)
		}
		record(t, c, 3)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if err := c.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close = %v, want DeadlineExceeded", err)
		}
	}()
	eventually(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
	if t.Failed() {
		buf := make([]byte, 1<<20)
		t.Log(string(buf[:runtime.Stack(buf, true)]))
	}
}

func TestCloseReportsUndelivered(t *testing.T) {
	g := newFakeGateway(t)
	g.setScript(func(*gwRequest) gwAnswer { return gwAnswer{OuterStatus: 503} })
	c, col := newClient(t, g, sdk.Config{MaxBatchEvents: 2})
	record(t, c, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.Close(ctx); err == nil {
		t.Fatal("Close succeeded with the gateway down")
	}
	rs := col.all()
	if len(rs) != 5 {
		t.Fatalf("%d results, want 5", len(rs))
	}
	for _, r := range rs {
		if r.Status != sdk.StatusDropped || r.Reason != sdk.ReasonClosed {
			t.Errorf("result %+v, want dropped closed", r)
		}
	}
}

// queueFiles lists the batch files of a queue directory: everything but
// its key file.
func queueFiles(t *testing.T, dir string) []os.DirEntry {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(es, func(e os.DirEntry) bool { return e.Name() == "queue.key" })
}

func TestQueueDirRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	g := newFakeGateway(t)
	// The gateway stores the first batch but its answer is lost, and is
	// then down: the client dies with every batch still on disk.
	g.setScript(func(r *gwRequest) gwAnswer {
		if r.N == 0 {
			g.mu.Lock()
			g.stored[r.BatchID] = true
			g.mu.Unlock()
			return gwAnswer{OuterStatus: http.StatusBadGateway}
		}
		return gwAnswer{OuterStatus: http.StatusServiceUnavailable, OuterHeader: http.Header{"Retry-After": {"3600"}}}
	})
	clk := sdk.NewFakeClock(clockStart)
	cfg := sdk.Config{QueueDir: dir, MaxBatchEvents: 10}
	sdk.SetClock(&cfg, clk)
	c1, col1 := newClient(t, g, cfg)
	record(t, c1, 25)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := c1.Flush(ctx); err == nil {
		t.Fatal("Flush succeeded with the gateway down")
	}
	// Stop it as a crash would: nothing more is sent or written.
	dead, kill := context.WithCancel(context.Background())
	kill()
	c1.Close(dead)
	// Each event kept on disk is reported queued, once, with its own Seq
	// and schema: loaded for an attempt or not.
	rs1 := col1.all()
	if len(rs1) != 25 {
		t.Errorf("%d results at Close, want 25 queued", len(rs1))
	}
	for i, r := range rs1 {
		if r.Status != sdk.StatusQueued || r.Reason != "" || r.Seq != uint64(i+1) || r.Schema != "app.launch" || r.Version != 1 {
			t.Errorf("result %d at Close = %+v, want queued", i, r)
		}
	}
	if st := c1.Stats(); st.Kept != 25 || st.Dropped != 0 {
		t.Errorf("Stats at Close = %+v, want 25 kept", st)
	}
	files := queueFiles(t, dir)
	if len(files) != 3 {
		t.Fatalf("%d queue files, want 3", len(files))
	}
	namePat := regexp.MustCompile(`^[0-9a-f]{16}-[0-9a-f]{16}\.batch$`)
	for _, f := range files {
		info, err := f.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f.Name(), info.Mode().Perm())
		}
		if !namePat.MatchString(f.Name()) {
			t.Errorf("queue file name %q", f.Name())
		}
	}
	firstID := g.seen()[0].BatchID

	// A new client on the same directory delivers everything, in order,
	// with the same batch ids: the batch already stored comes back as
	// duplicate, so each event is stored exactly once.
	// The restarted client runs on the same clock, a minute later: the
	// batches are a minute old, well inside MaxAge, on any calendar date.
	g.setScript(nil)
	before := len(g.seen())
	clk.Advance(time.Minute)
	cfg2 := sdk.Config{QueueDir: dir}
	sdk.SetClock(&cfg2, clk)
	c2, col2 := newClient(t, g, cfg2)
	flush(t, c2)
	reqs := g.seen()[before:]
	if got := sizes(reqs); !slices.Equal(got, []int{10, 10, 5}) {
		t.Fatalf("resumed batch sizes = %v, want [10 10 5]", got)
	}
	if got := eventIndexes(reqs); !slices.Equal(got, seq(0, 25)) {
		t.Errorf("resumed order = %v", got)
	}
	if reqs[0].BatchID != firstID {
		t.Error("resumed batch has a new batch_id")
	}
	if !reqs[0].Duplicate || reqs[1].Duplicate || reqs[2].Duplicate {
		t.Error("want the first batch answered duplicate, the others stored")
	}
	rs := col2.all()
	if len(rs) != 25 {
		t.Fatalf("%d results, want 25", len(rs))
	}
	for i, r := range rs {
		want := sdk.StatusAccepted
		if i < 10 {
			want = sdk.StatusDuplicate
		}
		if r.Status != want || r.Seq != 0 || r.Schema != "app.launch" || r.Version != 1 {
			t.Errorf("result %d = %+v", i, r)
		}
	}
	if n := len(queueFiles(t, dir)); n != 0 {
		t.Errorf("%d queue files left after delivery", n)
	}
}

func TestQueueDirKeepsUncutEventsAtClose(t *testing.T) {
	dir := t.TempDir()
	g := newFakeGateway(t)
	g.setScript(func(*gwRequest) gwAnswer {
		return gwAnswer{OuterStatus: 503, OuterHeader: http.Header{"Retry-After": {"3600"}}}
	})
	c1, col1 := newClient(t, g, sdk.Config{QueueDir: dir})
	record(t, c1, 7)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c1.Close(ctx)
	if n := col1.count(sdk.StatusQueued); n != 7 || len(col1.all()) != 7 {
		t.Errorf("results at Close with a queue directory: %+v, want 7 queued", col1.all())
	}
	g.setScript(nil)
	c2, col2 := newClient(t, g, sdk.Config{QueueDir: dir})
	flush(t, c2)
	if n := col2.count(sdk.StatusAccepted); n != 7 {
		t.Errorf("accepted after restart = %d, want 7", n)
	}
}

func TestQueueDirAgeCap(t *testing.T) {
	dir := t.TempDir()
	g := newFakeGateway(t)
	g.setScript(func(*gwRequest) gwAnswer {
		return gwAnswer{OuterStatus: 503, OuterHeader: http.Header{"Retry-After": {"3600"}}}
	})
	clk := sdk.NewFakeClock(clockStart)
	cfg := sdk.Config{QueueDir: dir}
	sdk.SetClock(&cfg, clk)
	c1, _ := newClient(t, g, cfg)
	record(t, c1, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	c1.Close(ctx)
	if n := len(queueFiles(t, dir)); n != 1 {
		t.Fatalf("%d queue files", n)
	}

	before := len(g.seen())
	clk2 := sdk.NewFakeClock(clockStart.Add(sdk.DefaultMaxAge + time.Minute))
	cfg2 := sdk.Config{QueueDir: dir}
	sdk.SetClock(&cfg2, clk2)
	c2, col := newClient(t, g, cfg2)
	flush(t, c2)
	if n := len(g.seen()) - before; n != 0 {
		t.Errorf("%d requests for an expired batch", n)
	}
	rs := col.all()
	if len(rs) != 4 {
		t.Fatalf("%d results, want 4", len(rs))
	}
	for _, r := range rs {
		if r.Status != sdk.StatusDropped || r.Reason != sdk.ReasonExpired {
			t.Errorf("result %+v, want dropped expired", r)
		}
	}
	if n := len(queueFiles(t, dir)); n != 0 {
		t.Errorf("%d queue files left", n)
	}
}

func TestQueueDirSizeCap(t *testing.T) {
	dir := t.TempDir()
	g := newFakeGateway(t)
	g.setScript(func(*gwRequest) gwAnswer {
		return gwAnswer{OuterStatus: 503, OuterHeader: http.Header{"Retry-After": {"3600"}}}
	})
	c, col := newClient(t, g, sdk.Config{QueueDir: dir, MaxQueueBytes: 1600, MaxBatchEvents: 10})
	record(t, c, 30) // three batch files of about 760 bytes; only two fit
	eventually(t, "the third batch to be dropped", func() bool { return col.count(sdk.StatusDropped) == 10 })
	for _, r := range col.all() {
		if r.Reason != sdk.ReasonQueueFull || r.Seq < 21 {
			t.Errorf("result %+v, want the newest batch dropped queue_full", r)
		}
	}
	files := queueFiles(t, dir)
	if len(files) != 2 {
		t.Errorf("%d queue files, want 2", len(files))
	}
	for _, f := range files {
		if info, err := f.Info(); err != nil || info.Size() < 700 || info.Size() > 800 {
			t.Errorf("queue file size %v (err %v): the limit above assumes 700-800 bytes", info.Size(), err)
		}
	}
}

// TestQueueDirResultsKeepSeq checks that events of batches this Client
// wrote to its queue directory report their own Seq, also after a split:
// only events an earlier process left there report 0.
func TestQueueDirResultsKeepSeq(t *testing.T) {
	g := newFakeGateway(t)
	g.setScript(func(r *gwRequest) gwAnswer {
		if len(r.Events) > 4 {
			return problem(413, "about:blank")
		}
		return gwAnswer{}
	})
	c, col := newClient(t, g, sdk.Config{QueueDir: t.TempDir(), MaxBatchEvents: 10})
	record(t, c, 25)
	flush(t, c)
	rs := col.all()
	if len(rs) != 25 {
		t.Fatalf("%d results, want 25", len(rs))
	}
	var got []int
	for _, r := range rs {
		if r.Status != sdk.StatusAccepted {
			t.Errorf("result %+v", r)
		}
		got = append(got, int(r.Seq))
	}
	if !slices.Equal(got, seq(1, 26)) {
		t.Errorf("result Seqs = %v, want 1…25 in order", got)
	}
}

// TestQueueDirDamagedFiles checks that a queue file that cannot be loaded
// back costs only its own events, and that those are reported: dropped
// when the file is corrupt (it is removed), queued when it cannot be read
// (it stays for the next Client). A corrupt file from an earlier process is
// skipped too.
func TestQueueDirDamagedFiles(t *testing.T) {
	dir := t.TempDir()
	// A corrupt file an earlier process left, first in the queue.
	if err := os.WriteFile(filepath.Join(dir, "0000000000000001-00000000000000aa.batch"), []byte(`{"batches":[{"batch_id":`), 0o600); err != nil {
		t.Fatal(err)
	}
	g := newFakeGateway(t)
	down := true
	g.setScript(func(*gwRequest) gwAnswer {
		g.mu.Lock()
		defer g.mu.Unlock()
		if down {
			return gwAnswer{OuterStatus: 503, OuterHeader: http.Header{"Retry-After": {"3600"}}}
		}
		return gwAnswer{}
	})
	clk := sdk.NewFakeClock(clockStart)
	cfg := sdk.Config{QueueDir: dir, MaxBatchEvents: 2, FlushInterval: time.Hour, MaxRetryWait: 2 * time.Hour}
	sdk.SetClock(&cfg, clk)
	c, col := newClient(t, g, cfg)
	record(t, c, 6) // three files: Seq 1-2, 3-4, 5-6
	// The first batch is attempted and waits out its Retry-After.
	waitArmed(t, clk, func(d time.Duration) bool { return d >= time.Hour && d != time.Hour })
	var files []string
	eventually(t, "three queue files", func() bool {
		files, _ = filepath.Glob(filepath.Join(dir, "*.batch"))
		return len(files) == 3
	})
	slices.Sort(files)
	corrupt, unreadable := files[1], files[2]
	if err := os.WriteFile(corrupt, []byte("\x00garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A directory in place of the file: reading it fails, as EIO or
	// EMFILE would.
	if err := os.Remove(unreadable); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(unreadable, 0o700); err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	down = false
	g.mu.Unlock()
	clk.Advance(2 * time.Hour)
	flush(t, c)

	got := map[uint64]sdk.Result{}
	for _, r := range col.all() {
		if _, dup := got[r.Seq]; dup {
			t.Errorf("Seq %d reported twice", r.Seq)
		}
		got[r.Seq] = r
	}
	for seq := uint64(1); seq <= 6; seq++ {
		r, ok := got[seq]
		switch {
		case !ok:
			t.Errorf("Seq %d: no result", seq)
		case seq <= 2 && r.Status != sdk.StatusAccepted,
			(seq == 3 || seq == 4) && (r.Status != sdk.StatusDropped || r.Reason != sdk.ReasonCorrupt),
			seq >= 5 && r.Status != sdk.StatusQueued:
			t.Errorf("Seq %d: result %+v", seq, r)
		}
	}
	if _, err := os.Stat(corrupt); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("corrupt queue file not removed: %v", err)
	}
	if _, err := os.Stat(unreadable); err != nil {
		t.Errorf("unreadable queue file not left for the next Client: %v", err)
	}
	if n := len(g.seen()); n != 2 {
		t.Errorf("%d requests, want 2 (one batch, retried once)", n)
	}
}

// answerAfterCancel is a transport whose answers arrive only once the
// request's context has ended, as when Close gives up while the gateway's
// answer is on its way.
type answerAfterCancel struct {
	inFlight chan struct{}
}

func (a answerAfterCancel) RoundTrip(r *http.Request) (*http.Response, error) {
	out := r.Clone(context.Background())
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil || r.Method != http.MethodPost {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	close(a.inFlight)
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
	return resp, nil
}

// TestAnswerArrivingAtClose checks that an answer the Client received is
// reported as given, even when Close's context ended meanwhile.
func TestAnswerArrivingAtClose(t *testing.T) {
	g := newFakeGateway(t)
	tr := answerAfterCancel{inFlight: make(chan struct{})}
	c, col := newClient(t, g, sdk.Config{HTTPClient: &http.Client{Transport: tr}})
	record(t, c, 3)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { c.Flush(ctx) }()
	<-tr.inFlight
	cancel()
	c.Close(ctx)
	rs := col.all()
	if len(rs) != 3 {
		t.Fatalf("%d results, want 3", len(rs))
	}
	for _, r := range rs {
		if r.Status != sdk.StatusAccepted {
			t.Errorf("result %+v, want accepted: the gateway stored it", r)
		}
	}
}

// TestQueueDirSplitRewriteFails checks that a split batch whose queue file
// cannot be rewritten does not stay on disk unsplit: a later Client would
// split it again under new batch ids and store the half already delivered
// a second time.
func TestQueueDirSplitRewriteFails(t *testing.T) {
	dir := t.TempDir()
	g := newFakeGateway(t)
	hold := gwAnswer{OuterStatus: 503, OuterHeader: http.Header{"Retry-After": {"3600"}}}
	g.setScript(func(r *gwRequest) gwAnswer {
		switch {
		case r.N == 0:
			return hold
		case len(r.Events) > 2:
			return problem(413, "about:blank")
		case r.N == 2:
			return gwAnswer{}
		}
		return hold
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
	// Every write of the file now fails, as on a full disk.
	if err := os.Mkdir(files[0]+".tmp", 0o700); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)
	eventually(t, "the first half", func() bool { return col.count(sdk.StatusAccepted) == 2 })
	waitArmed(t, clk, func(d time.Duration) bool { return d > time.Hour })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c.Close(ctx)

	original := g.seen()[0].BatchID
	left, _ := filepath.Glob(filepath.Join(dir, "*.batch"))
	for _, f := range left {
		data, err := sdk.QueueFileJSON(f, nil)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), original) {
			t.Errorf("queue file still holds the batch split and partly delivered: %s", data)
		}
	}
	rs := col.all()
	if len(rs) != 4 {
		t.Fatalf("%d results, want 4", len(rs))
	}
	for _, r := range rs[2:] {
		if r.Status != sdk.StatusDropped || r.Reason != sdk.ReasonClosed {
			t.Errorf("result %+v, want the undelivered half dropped closed", r)
		}
	}
}

// TestStressRecordFlushClose runs Record, Flush, Stats and Close from many
// goroutines at once against a gateway that fails, splits and accepts at
// random, and checks the promise: every event Record took gets exactly one
// result, nothing is left running after Close.
func TestStressRecordFlushClose(t *testing.T) {
	for _, withDir := range []bool{false, true} {
		t.Run(fmt.Sprintf("queueDir=%v", withDir), func(t *testing.T) {
			before := runtime.NumGoroutine()
			g := newFakeGateway(t)
			g.setScript(func(r *gwRequest) gwAnswer {
				switch r.N % 7 {
				case 1:
					return gwAnswer{OuterStatus: 503}
				case 3:
					if len(r.Events) > 1 {
						return gwAnswer{OuterStatus: http.StatusRequestEntityTooLarge}
					}
				case 5:
					return problem(413, "about:blank")
				}
				return gwAnswer{}
			})
			var (
				mu      sync.Mutex
				results = map[uint64]int{}
				taken   int
			)
			cfg := sdk.Config{
				RelayURL:       g.relayURL(),
				MaxBatchEvents: 7,
				FlushInterval:  time.Millisecond,
				MaxQueueEvents: 1000,
				MaxRetryWait:   time.Millisecond,
				OnResult: func(r sdk.Result) {
					mu.Lock()
					results[r.Seq]++
					mu.Unlock()
				},
			}
			if withDir {
				cfg.QueueDir = t.TempDir()
			}
			c, err := sdk.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for w := range 16 {
				wg.Go(func() {
					for i := range 150 {
						err := c.Record(context.Background(), "app.launch", 1, map[string]any{"w": w, "i": i})
						switch {
						case err == nil, errors.Is(err, sdk.ErrQueueFull):
							mu.Lock()
							taken++
							mu.Unlock()
						case errors.Is(err, sdk.ErrClosed):
							return
						default:
							t.Errorf("Record: %v", err)
						}
						switch i % 40 {
						case 10:
							ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i)*time.Microsecond)
							c.Flush(ctx)
							cancel()
						case 20:
							c.Stats()
						}
					}
				})
			}
			// Close while the writers are still going: once some events
			// are taken, not after a guessed delay.
			eventually(t, "the first events taken", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return taken >= 100
			})
			for range 3 {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
					defer cancel()
					c.Close(ctx)
				})
			}
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			n := 0
			for seq, k := range results {
				n += k
				if k != 1 || seq == 0 {
					t.Errorf("Seq %d: %d results", seq, k)
				}
			}
			if n != taken {
				t.Errorf("%d results for %d events Record took", n, taken)
			}
			t.Logf("%d events: %+v", taken, c.Stats())
			if st := c.Stats(); st.Recorded != uint64(taken) || st.Accepted+st.Duplicate+st.Rejected+st.Dropped+st.Kept != uint64(taken) || st.Queued != 0 {
				t.Errorf("Stats = %+v for %d events", st, taken)
			}
			g.srv.Close()
			eventually(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
		})
	}
}
