package loadgen

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/internal/keystate"
	"github.com/veil-telemetry/veil/ohttp"
)

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Max() != 0 {
		t.Fatal("empty histogram reports samples")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var exact []time.Duration
	for range 100000 {
		// Log-uniform from 1 µs to 10 s, the range latencies live in.
		d := time.Duration(float64(time.Microsecond) * pow10(rng.Float64()*7))
		exact = append(exact, d)
		h.Record(d)
	}
	sort.Slice(exact, func(i, j int) bool { return exact[i] < exact[j] })
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
		rank := int(float64(len(exact))*q+0.999999) - 1
		want := exact[max(rank, 0)]
		got := h.Quantile(q)
		if got < want || float64(got-want) > float64(want)/histSub+1 {
			t.Errorf("q%.3f = %v, want %v within 1/%d above", q, got, want, histSub)
		}
	}
	if h.Max() != exact[len(exact)-1] || h.Quantile(1) != h.Max() {
		t.Errorf("max %v, q1 %v, want %v", h.Max(), h.Quantile(1), exact[len(exact)-1])
	}
	if h.Count() != uint64(len(exact)) {
		t.Errorf("count %d", h.Count())
	}
}

func pow10(x float64) float64 {
	r := 1.0
	for ; x >= 1; x-- {
		r *= 10
	}
	// 10^x for the fractional part, by exp-free series is overkill here:
	// a linear blend keeps the distribution wide, which is all we need.
	return r * (1 + 9*x)
}

func TestHistogramSmallExactAndMerge(t *testing.T) {
	var a, b Histogram
	for i := 1; i <= 100; i++ {
		a.Record(time.Duration(i))
		b.Record(time.Duration(1000 + i))
	}
	if a.Quantile(0.5) != 50 || a.Quantile(0.9) != 90 {
		t.Errorf("small values not exact: p50 %v p90 %v", a.Quantile(0.5), a.Quantile(0.9))
	}
	a.Merge(&b)
	if a.Count() != 200 || a.Max() != 1100 || a.Quantile(0.5) != 100 {
		t.Errorf("merge: count %d max %v p50 %v", a.Count(), a.Max(), a.Quantile(0.5))
	}
	a.Record(-5)
	if a.Quantile(0) != 0 {
		t.Errorf("negative sample not clamped to 0")
	}
	for _, v := range []uint64{0, 127, 128, 255, 256, 1 << 40, 1<<63 - 1, 1<<64 - 1} {
		i := bucketOf(v)
		if i < 0 || i >= histBuckets || bucketHigh(i) < v || (i > 0 && bucketHigh(i-1) >= v) {
			t.Errorf("value %d: bucket %d [.., %d] is wrong", v, i, bucketHigh(i))
		}
	}
}

func TestPacerBounds(t *testing.T) {
	if p := NewPacer(0); p != nil || p.Wait(t.Context()) != nil {
		t.Fatal("rate 0 must not pace")
	}
	const rate, n = 2000.0, 200
	p := NewPacer(rate)
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n / 8 {
				if err := p.Wait(t.Context()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	// The last of n slots is due at (n-1)/rate: never earlier.
	if min := time.Duration(float64(n-1) / rate * float64(time.Second)); elapsed < min {
		t.Errorf("%d waits at %v/s took %v, less than %v: rate exceeded", n, rate, elapsed, min)
	}
	if elapsed > 2*time.Second {
		t.Errorf("%d waits at %v/s took %v: far too slow", n, rate, elapsed)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	slow := NewPacer(0.001)
	_ = slow.Wait(ctx) // slot 0 is due now
	if err := slow.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled wait: %v", err)
	}
}

func TestStatParsing(t *testing.T) {
	// The command name may hold spaces and parentheses.
	stat := []byte("4242 (veil (serve) x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 3 4 20 0 12 0 100 123456 789 18446744073709551615\n")
	ut, st, cut, cst, err := statTimes(stat)
	if err != nil || ut != 250 || st != 75 || cut != 3 || cst != 4 {
		t.Fatalf("statTimes = %d %d %d %d %v", ut, st, cut, cst, err)
	}
	if pp, err := statPPID(stat); err != nil || pp != 1 {
		t.Errorf("statPPID = %d %v", pp, err)
	}
	for _, bad := range []string{"", "1 (x", "1 (x) S 1 2 3", "1 (x) S 1 2 3 4 5 6 7 8 9 10 u 12 13 14 15"} {
		if _, _, _, _, err := statTimes([]byte(bad)); !errors.Is(err, ErrProcFormat) {
			t.Errorf("statTimes(%q) = %v, want ErrProcFormat", bad, err)
		}
	}
	status := []byte("Name:\tveil\nVmPeak:\t  900000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40000 kB\n")
	if v, err := statusKiB(status, "VmHWM"); err != nil || v != 51200*1024 {
		t.Errorf("VmHWM = %d %v", v, err)
	}
	if _, err := statusKiB(status, "VmSwap"); !errors.Is(err, ErrProcFormat) {
		t.Errorf("missing key: %v", err)
	}
	if _, err := statusKiB([]byte("VmHWM: 12 MB\n"), "VmHWM"); !errors.Is(err, ErrProcFormat) {
		t.Errorf("bad unit: %v", err)
	}
}

func TestReadUsageFromFakeProc(t *testing.T) {
	root := t.TempDir()
	write := func(pid, name, content string) {
		t.Helper()
		dir := filepath.Join(root, pid)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fields := func(ppid string, ut, st, cut, cst string) string {
		return "X (postgres) S " + ppid + " 0 0 0 -1 0 0 0 0 0 " + ut + " " + st + " " + cut + " " + cst + " 20 0 1 0 0 0 0\n"
	}
	write("10", "stat", fields("1", "100", "50", "200", "0"))
	write("10", "status", "VmHWM:\t1000 kB\n")
	write("11", "stat", fields("10", "10", "10", "0", "0"))
	write("11", "status", "VmHWM:\t3000 kB\n")
	write("12", "stat", fields("99", "500", "500", "0", "0"))
	write("12", "status", "VmHWM:\t9000 kB\n")
	u, err := ReadUsage(root, 10, false)
	if err != nil || u.CPU != 1500*time.Millisecond || u.PeakRSS != 1000*1024 {
		t.Errorf("ReadUsage = %+v %v", u, err)
	}
	u, err = ReadTreeUsage(root, 10)
	if err != nil || u.CPU != 3700*time.Millisecond || u.PeakRSS != 3000*1024 {
		t.Errorf("ReadTreeUsage = %+v %v (want 3.7s, 3000 KiB)", u, err)
	}
	// And the real thing.
	self, err := ReadUsage("/proc", os.Getpid(), false)
	if err != nil || self.PeakRSS <= 0 {
		t.Errorf("own /proc usage: %+v %v", self, err)
	}
}

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:8080/gateway", "https://127.1.2.3/", "http://[::1]:9/x", "http://localhost:1/", "http://LOCALHOST/"} {
		if err := CheckLoopback(ok); err != nil {
			t.Errorf("CheckLoopback(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"http://10.0.0.1/", "http://example.com/", "http://[::ffff:8.8.8.8]/", "http://0.0.0.0:80/", "http://localhost.example.com/", "ftp://127.0.0.1/", "127.0.0.1:80", "http://[::]/"} {
		if err := CheckLoopback(bad); err == nil {
			t.Errorf("CheckLoopback(%q) accepted", bad)
		}
	}
	_, err := Run(t.Context(), Config{Workload: &JSON{URL: "http://192.0.2.1/v1/events", Events: 1}, Concurrency: 1, Requests: 1})
	if !errors.Is(err, ErrNotLoopback) {
		t.Errorf("Run against a non-loopback target: %v", err)
	}
}

func TestRunNeedsBounds(t *testing.T) {
	_, err := Run(t.Context(), Config{Workload: &JSON{URL: "http://127.0.0.1:1/", Events: 1}, Concurrency: 1})
	if err == nil {
		t.Error("unbounded run accepted")
	}
}

// memKeys is an in-memory gateway.KeyStore.
type memKeys []gateway.Key

func (m memKeys) LiveKeys(context.Context) ([]gateway.Key, error) { return m, nil }

// TestRunGatewayMode runs the gateway mode against an in-process gateway
// with a no-op inner handler: every request is freshly encapsulated, so
// the gateway's replay window (enc hashes) is never tripped.
func TestRunGatewayMode(t *testing.T) {
	for _, kem := range []ohttp.KEMID{ohttp.KEMX25519, ohttp.KEMXWing} {
		key, err := ohttp.GenerateKey(nil, 7, kem, []ohttp.SymmetricSuite{ohttp.DefaultSuite})
		if err != nil {
			t.Fatal(err)
		}
		var (
			mu   sync.Mutex
			seen = map[[32]byte]bool{}
			dups int
		)
		gw, err := gateway.New(gateway.Config{
			Keys: memKeys{{Private: key, State: keystate.Current}},
			Inner: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"results":[]}`))
			}),
			WithEncHash: func(ctx context.Context, h [32]byte) context.Context {
				mu.Lock()
				dups += map[bool]int{true: 1}[seen[h]]
				seen[h] = true
				mu.Unlock()
				return ctx
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(gw)
		t.Cleanup(srv.Close)

		cfgs, err := FetchKeys(t.Context(), srv.Client(), srv.URL+"/ohttp-keys")
		if err != nil {
			t.Fatal(err)
		}
		kc, err := PickKey(cfgs, kem)
		if err != nil {
			t.Fatal(err)
		}
		const n = 300
		var progress int64
		var pmu sync.Mutex
		st, err := Run(t.Context(), Config{
			Workload:    &OHTTP{URL: srv.URL + "/gateway", Key: kc, Events: 50},
			Concurrency: 4,
			Requests:    n,
			Duration:    time.Minute,
			Progress: func(d int64) {
				pmu.Lock()
				progress = max(progress, d)
				pmu.Unlock()
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if st.OK != n || st.Failed != 0 || len(st.Errors) != 0 {
			t.Fatalf("kem %#x: %d ok, %d failed, errors %v", kem, st.OK, st.Failed, st.Errors)
		}
		if st.Events != n*50 || st.Latency.Count() != n || st.Latency.Quantile(0.5) <= 0 || progress != n {
			t.Errorf("events %d, latency samples %d, p50 %v, progress %d", st.Events, st.Latency.Count(), st.Latency.Quantile(0.5), progress)
		}
		if len(seen) != n || dups != 0 {
			t.Errorf("%d distinct encapsulations, %d repeats; want %d, 0", len(seen), dups, n)
		}
		r := NewReport(st)
		r.Mode = "gateway"
		var sb strings.Builder
		if err := r.WriteTable(&sb); err != nil || !strings.Contains(sb.String(), "errors      none") {
			t.Errorf("table: %v\n%s", err, sb.String())
		}
	}
}

func TestRunErrorKinds(t *testing.T) {
	var calls int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		c := calls
		mu.Unlock()
		switch c % 3 {
		case 0:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.Write([]byte(`{"results":[{"status":"rejected","reason":"identifier_email"}]}`))
		}
	}))
	defer srv.Close()
	st, err := Run(t.Context(), Config{Workload: &JSON{URL: srv.URL + "/v1/events", Events: 1}, Concurrency: 1, Requests: 9})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"http_503": 3, "http_503_no_retry_after": 3, "event_rejected_identifier_email": 3}
	if st.Failed != 9 || len(st.Errors) != len(want) {
		t.Fatalf("errors %v", st.Errors)
	}
	for k, v := range want {
		if st.Errors[k] != v {
			t.Errorf("errors[%s] = %d, want %d", k, st.Errors[k], v)
		}
	}
}

func TestRunStopsAtDuration(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"results":[{"status":"accepted"}]}`))
	}))
	defer srv.Close()
	start := time.Now()
	st, err := Run(t.Context(), Config{Workload: &JSON{URL: srv.URL, Events: 1}, Concurrency: 2, Duration: 200 * time.Millisecond, Rate: 100})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("run took %v", el)
	}
	// 100/s for 0.2 s: about 20 requests, never more than 21.
	if st.OK < 5 || st.OK > 21 || st.Failed != 0 {
		t.Errorf("%d ok, %d failed at 100/s for 200 ms", st.OK, st.Failed)
	}
}

// TestPreseal: a sealed workload hands out each prepared request once,
// then ends the run without failing it.
func TestPreseal(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"results":[{"status":"accepted"}]}`)
	}))
	defer srv.Close()
	s, err := Preseal(context.Background(), &JSON{URL: srv.URL + "/v1/events", Events: 1}, 25, 2)
	if err != nil {
		t.Fatal(err)
	}
	if s.Count != 25 || s.Sealing < 0 {
		t.Fatalf("sealed %d, cost %v", s.Count, s.Sealing)
	}
	st, err := Run(context.Background(), Config{Workload: s, Concurrency: 4, Requests: 100, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if st.OK != 25 || st.Failed != 0 || s.Used() != 25 {
		t.Errorf("sent %d ok, %d failed, used %d; want 25 ok", st.OK, st.Failed, s.Used())
	}
}
