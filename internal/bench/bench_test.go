package bench

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/loadgen"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
	"github.com/veil-telemetry/veil/ohttp"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

func TestOptionsValidate(t *testing.T) {
	d := DefaultOptions()
	d.Spawn = true
	if err := d.Validate(); err != nil {
		t.Fatalf("defaults with --spawn: %v", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"mode", func(o *Options) { o.Mode = "turbo" }, "--mode"},
		{"suite", func(o *Options) { o.Suite = "p256" }, "--suite"},
		{"concurrency", func(o *Options) { o.Concurrency = 0 }, "--concurrency"},
		{"unbounded", func(o *Options) { o.Requests, o.Duration = 0, 0 }, "--requests"},
		{"too long", func(o *Options) { o.Duration = loadgen.MaxDuration + time.Second }, "--duration"},
		{"events", func(o *Options) { o.Events = maxEventsPerRequest + 1 }, "--events-per-request"},
		{"serve profile in ingest mode", func(o *Options) { o.Mode, o.ServeProfile = "ingest", "p.out" }, "--serve-cpuprofile"},
		{"no target", func(o *Options) { o.Spawn, o.Mode = false, "full" }, "--admin-token-file"},
		{"public target", func(o *Options) { o.Spawn, o.GatewayURL = false, "http://192.0.2.1/gateway" }, "--gateway-url"},
	} {
		o := d
		tc.mod(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want mention of %s", tc.name, err, tc.want)
		}
	}
	for name, want := range map[string]ohttp.KEMID{"x25519": ohttp.KEMX25519, "xwing": ohttp.KEMXWing, "X-Wing": ohttp.KEMXWing} {
		if got, err := suiteKEM(name); err != nil || got != want {
			t.Errorf("suite %s: %v %v", name, got, err)
		}
	}
}

func TestNoopInner(t *testing.T) {
	rec := httptest.NewRecorder()
	NoopInner.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/events", strings.NewReader(`{"events":[]}`)))
	if rec.Code != http.StatusOK || rec.Body.String() != `{"results":[]}` || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("%d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
}

// TestRunIngestMode drives the in-process ingest API over a real database:
// every request accepted, the self row measured.
func TestRunIngestMode(t *testing.T) {
	o := DefaultOptions()
	o.Mode, o.DatabaseURL = "ingest", storagetest.URL(t)
	o.Concurrency, o.Requests, o.Warmup, o.Events = 2, 20, 2, 5
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	rep, err := Run(t.Context(), o, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if rep.Requests != 20 || rep.Failed != 0 || rep.Events != 100 || rep.Mode != "ingest" || rep.Suite != "" {
		t.Errorf("report %+v", rep)
	}
	if len(rep.Processes) != 1 || !strings.Contains(rep.Processes[0].Name, "self") {
		t.Errorf("processes %+v", rep.Processes)
	}
}

// TestRunForwardMode drives the forwarding baseline end to end (OHTTP in,
// a plain HTTP hop to the no-op target, OHTTP out) with pre-sealed
// requests: every request answered, the sealing reported apart.
func TestRunForwardMode(t *testing.T) {
	o := DefaultOptions()
	o.Mode, o.Spawn = "forward", true
	o.Concurrency, o.Requests, o.Warmup, o.Events, o.Preseal = 2, 1000, 3, 1, 15
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	rep, err := Run(t.Context(), o, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if rep.Requests != 15 || rep.Failed != 0 || rep.Mode != "forward" {
		t.Errorf("report %+v", rep)
	}
	if !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, "pre-sealed 15 requests") }) {
		t.Errorf("notes %q lack the sealing cost", rep.Notes)
	}
}

// TestForwarderRefuses: the forwarding gateway answers garbage with a 400
// and serves nothing but its two resources.
func TestForwarderRefuses(t *testing.T) {
	s := &setup{}
	defer s.close()
	o := DefaultOptions()
	if err := s.startForward(o); err != nil {
		t.Fatal(err)
	}
	url := s.workload.Target()
	resp, err := http.Post(url, ohttp.RequestMediaType, strings.NewReader("not ohttp"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("garbage: %d", resp.StatusCode)
	}
	resp, err = http.Get(strings.TrimSuffix(url, "/gateway") + "/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("other path: %d", resp.StatusCode)
	}
}
