package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/loghist"
	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// seed registers the example schema and commits 12 ios and 3 android
// events in the current hour, with outcome counts.
func seed(t *testing.T, h *harness) { seedMode(t, h, "") }

// seedMode seeds with x-veil.release.mode set to mode ("": the default).
func seedMode(t *testing.T, h *harness, mode string) {
	t.Helper()
	doc := exampleSchema(t)
	if mode != "" {
		doc["x-veil"].(map[string]any)["release"] = map[string]any{"mode": mode}
	}
	if r := h.do(t, "POST", "/v1/schemas", testToken, map[string]any{"document": doc}); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	hour := time.Now().UTC().Truncate(time.Hour)
	b := &storage.Batch{}
	for i := range 15 {
		os := "ios"
		if i >= 12 {
			os = "android"
		}
		b.Records = append(b.Records, storage.Record{
			Bucket: hour, Schema: "app.launch", Version: 1,
			Dimensions: map[string]any{"os": os, "app_version": "1.2"},
			Measures:   map[string]float64{"cold_start_ms": float64(100 + i)},
		})
	}
	b.Outcomes = []storage.OutcomeCount{
		{Bucket: hour, Schema: "app.launch", Version: 1, Outcome: "accepted", Count: 15},
		{Bucket: hour, Schema: "app.launch", Version: 1, Outcome: "rejected", Reason: "identifier_email", Count: 2},
	}
	w := storagetest.NewWriter(t, h.db, storage.WriterConfig{})
	defer w.Close(context.Background())
	if _, err := w.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	storagetest.Mix(t, h.db)
}

type aggResponse struct {
	Groups []struct {
		Bucket      string         `json:"bucket"`
		Group       map[string]any `json:"group"`
		Count       json.Number    `json:"count"`
		Provisional bool           `json:"provisional"`
		NoiseSD     float64        `json:"noise_sd"`
		Measures    map[string]struct {
			Count json.Number `json:"count"`
			Sum   float64     `json:"sum"`
			Min   *float64    `json:"min"`
			Max   *float64    `json:"max"`
			Mean  float64     `json:"mean"`
			P50   *float64    `json:"p50"`
			P90   *float64    `json:"p90"`
			P99   *float64    `json:"p99"`
		} `json:"measures"`
	} `json:"groups"`
	Suppressed int    `json:"suppressed_groups"`
	K          int    `json:"k"`
	Mode       string `json:"mode"`
	Label      string `json:"label"`
	Epsilon    string `json:"epsilon"`
	Plan       string `json:"plan"`
}

func TestAggregatesSuppressBelowK(t *testing.T) {
	h := newHarness(t, nil)
	seedMode(t, h, "exact")
	get := func(query string) aggResponse {
		t.Helper()
		r := h.do(t, "GET", "/v1/aggregates?"+query, testToken, nil)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", query, r.status, r.body)
		}
		var a aggResponse
		if err := json.Unmarshal(r.body, &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := get("schema=app.launch&version=1&group_by=os")
	if a.K != DefaultK || a.Suppressed != 1 || len(a.Groups) != 1 {
		t.Fatalf("%+v", a)
	}
	g := a.Groups[0]
	m := g.Measures["cold_start_ms"]
	if g.Group["os"] != "ios" || g.Count.String() != "12" || m.Min != nil || m.Max != nil || m.Count.String() != "12" || m.Mean != 105.5 {
		t.Fatalf("%+v", g)
	}
	if a.Mode != "exact" || a.Label != LabelExact || g.Provisional || g.NoiseSD != 0 {
		t.Fatalf("exact mode not labelled: %+v", a)
	}
	// Percentiles of 100..111 against the values of rank ⌈q·12⌉ (105, 110,
	// 111), within the histogram's relative error.
	for i, p := range []*float64{m.P50, m.P90, m.P99} {
		want := []float64{105, 110, 111}[i]
		if p == nil || math.Abs(*p-want) > loghist.RelativeError*want {
			t.Errorf("percentile %d = %v, want about %v", i, p, want)
		}
	}
	// Without group_by, one group of 15 per bucket.
	a = get("schema=app.launch&version=1&bucket=day")
	if len(a.Groups) != 1 || a.Groups[0].Count.String() != "15" || a.Suppressed != 0 {
		t.Fatalf("%+v", a)
	}
	// A time range without data.
	a = get("schema=app.launch&version=1&from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z")
	if len(a.Groups) != 0 {
		t.Fatalf("%+v", a)
	}

	mustProblem(t, h.do(t, "GET", "/v1/aggregates?schema=app.launch&version=1&group_by=user", testToken, nil), http.StatusBadRequest)
	mustProblem(t, h.do(t, "GET", "/v1/aggregates?schema=app.launch&version=2", testToken, nil), http.StatusNotFound)
	mustProblem(t, h.do(t, "GET", "/v1/aggregates?schema=app.launch", testToken, nil), http.StatusBadRequest)
	mustProblem(t, h.do(t, "GET", "/v1/aggregates?schema=app.launch&version=1&bucket=week", testToken, nil), http.StatusBadRequest)
	mustProblem(t, h.do(t, "GET", "/v1/aggregates?schema=app.launch&version=1&from=2021-01-01T00:00:00Z&to=2020-01-01T00:00:00Z", testToken, nil), http.StatusBadRequest)

	// Ranges are bounded: 366 days of day buckets, 31 days of hours.
	a = get("schema=app.launch&version=1&bucket=day&from=2020-01-01T00:00:00Z&to=2020-12-31T00:00:00Z")
	for _, q := range []string{
		"bucket=hour&from=2020-01-01T00:00:00Z&to=2020-12-31T00:00:00Z",
		"from=2020-01-01T00:00:00Z&to=2020-03-01T00:00:00Z", // hour is the default
		"bucket=day&from=2020-01-01T00:00:00Z&to=2021-06-01T00:00:00Z",
		"from=2020-01-01T00:00:00Z&to=2020-01-01T00:00:00Z",
	} {
		mustProblem(t, h.do(t, "GET", "/v1/aggregates?schema=app.launch&version=1&"+q, testToken, nil), http.StatusBadRequest)
	}
	a = get("schema=app.launch&version=1&from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z")

	// A lower k shows the android group too.
	h2 := newHarness(t, func(c *Config) { c.K = 3; c.DB = h.db })
	r := h2.do(t, "GET", "/v1/aggregates?schema=app.launch&version=1&group_by=os", testToken, nil)
	var a3 aggResponse
	if err := json.Unmarshal(r.body, &a3); err != nil || len(a3.Groups) != 2 || a3.Suppressed != 0 || a3.K != 3 {
		t.Fatalf("k=3: %s", r.body)
	}
}

func TestStats(t *testing.T) {
	h := newHarness(t, nil)
	seed(t, h)
	r := h.do(t, "GET", "/v1/stats", testToken, nil)
	var s struct {
		Accepted json.Number `json:"accepted"`
		Rejected json.Number `json:"rejected"`
		Rows     []struct {
			Schema  string      `json:"schema"`
			Outcome string      `json:"outcome"`
			Reason  string      `json:"reason"`
			Count   json.Number `json:"count"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(r.body, &s); err != nil || r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if s.Accepted.String() != "15" || s.Rejected.String() != "2" || len(s.Rows) != 2 {
		t.Fatalf("%s", r.body)
	}
	// The dashboard shows the same.
	req, _ := http.NewRequest("GET", h.url+"/", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := h.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("dashboard %d", resp.StatusCode)
	}
}

// TestAggregatesDP: by default aggregates are releases: noisy, labelled,
// every cell of an enum grouping present (none withheld), no minimum or
// maximum, identical bytes for an identical query, after a restart too,
// and groupings outside the plan refused with the plan named.
func TestAggregatesDP(t *testing.T) {
	// One instant for both servers: a provisional release is drawn at
	// most once per mix epoch of the clock.
	now := time.Now()
	fixed := func() time.Time { return now }
	h := newHarness(t, func(c *Config) { c.Now = fixed })
	seed(t, h)
	const q = "/v1/aggregates?schema=app.launch&version=1&group_by=os"
	first := h.do(t, "GET", q, testToken, nil)
	if first.status != 200 {
		t.Fatalf("%d %s", first.status, first.body)
	}
	var a aggResponse
	if err := json.Unmarshal(first.body, &a); err != nil {
		t.Fatal(err)
	}
	if a.Mode != "dp" || a.Epsilon != "1" || !strings.Contains(a.Label, "differentially private") || a.Plan != "[] [app_version] [os]" {
		t.Fatalf("%s", first.body)
	}
	if len(a.Groups) != 2 || a.Groups[0].Group["os"] != "android" || a.Groups[1].Group["os"] != "ios" {
		t.Fatalf("want both enum cells, android first: %s", first.body)
	}
	for _, g := range a.Groups {
		if !g.Provisional || g.NoiseSD <= 0 {
			t.Fatalf("the open bucket's release must be provisional with its noise stated: %s", first.body)
		}
		if m := g.Measures["cold_start_ms"]; m.Min != nil || m.Max != nil {
			t.Fatalf("min/max released: %s", first.body)
		}
	}
	if bytes.Contains(first.body, []byte(`"min"`)) || bytes.Contains(first.body, []byte(`"max"`)) {
		t.Fatalf("min/max in the answer: %s", first.body)
	}
	if again := h.do(t, "GET", q, testToken, nil); !bytes.Equal(again.body, first.body) {
		t.Fatalf("the same query answered differently:\n%s\n%s", first.body, again.body)
	}
	// A restart: a new admin plane over the same database.
	h2 := newHarness(t, func(c *Config) { c.DB, c.Now = h.db, fixed })
	if again := h2.do(t, "GET", q, testToken, nil); !bytes.Equal(again.body, first.body) {
		t.Fatalf("after a restart the query answered differently:\n%s\n%s", first.body, again.body)
	}
	p := mustProblem(t, h.do(t, "GET", "/v1/aggregates?schema=app.launch&version=1&group_by=os,app_version", testToken, nil), http.StatusBadRequest)
	if !strings.Contains(p.Detail, "[] [app_version] [os]") {
		t.Fatalf("refusal does not name the plan: %+v", p)
	}
}

// TestPrivacyReport: GET /v1/privacy-report answers the document itself,
// in each format, behind the token; gRPC's ExportReleases answers CSV.
func TestPrivacyReport(t *testing.T) {
	h := newHarness(t, nil)
	seed(t, h)
	for _, c := range []struct{ format, media, want string }{
		{"", "text/markdown; charset=utf-8", "### app.launch version 1"},
		{"html", "text/html; charset=utf-8", "<h3>app.launch version 1</h3>"},
		{"json", "application/json", `"name": "app.launch"`},
	} {
		r := h.do(t, "GET", "/v1/privacy-report?format="+c.format, testToken, nil)
		if r.status != 200 || r.header.Get("Content-Type") != c.media || !bytes.Contains(r.body, []byte(c.want)) {
			t.Errorf("format %q: %d %s\n%s", c.format, r.status, r.header.Get("Content-Type"), r.body)
		}
	}
	// The report states the mixer's k and interval as configured, and the
	// schema's token policy.
	md := h.do(t, "GET", "/v1/privacy-report", testToken, nil).body
	for _, want := range []string{"shuffled groups of at least 10, at most every 1m0s", "Anti-abuse tokens: off"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
	mustProblem(t, h.do(t, "GET", "/v1/privacy-report?format=pdf", testToken, nil), http.StatusBadRequest)
	if r := h.do(t, "GET", "/v1/privacy-report", "", nil); r.status != http.StatusUnauthorized {
		t.Errorf("without a token: %d", r.status)
	}
	h.do(t, "GET", "/v1/aggregates?schema=app.launch&version=1&group_by=os", testToken, nil)
	doc, err := h.srv.query.ExportReleases(context.Background(), &veilv1.ExportReleasesRequest{Schema: "app.launch", Version: 1})
	if err != nil || doc.GetContentType() != "text/csv; charset=utf-8" || !strings.HasPrefix(doc.GetBody(), "bucket,release,epsilon,grouping,") || !strings.Contains(doc.GetBody(), ",os,,android,") {
		t.Fatalf("export: %v %v", doc, err)
	}
}
