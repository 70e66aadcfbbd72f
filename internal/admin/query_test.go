package admin

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/loghist"
	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
)

// seed registers the example schema and commits 12 ios and 3 android
// events in the current hour, with outcome counts.
func seed(t *testing.T, h *harness) {
	t.Helper()
	if r := h.do(t, "POST", "/v1/schemas", testToken, map[string]any{"document": exampleSchema(t)}); r.status != 200 {
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
		Bucket   string         `json:"bucket"`
		Group    map[string]any `json:"group"`
		Count    json.Number    `json:"count"`
		Measures map[string]struct {
			Count json.Number `json:"count"`
			Sum   float64     `json:"sum"`
			Min   float64     `json:"min"`
			Max   float64     `json:"max"`
			Mean  float64     `json:"mean"`
			P50   *float64    `json:"p50"`
			P90   *float64    `json:"p90"`
			P99   *float64    `json:"p99"`
		} `json:"measures"`
	} `json:"groups"`
	Suppressed int `json:"suppressed_groups"`
	K          int `json:"k"`
}

func TestAggregatesSuppressBelowK(t *testing.T) {
	h := newHarness(t, nil)
	seed(t, h)
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
	if g.Group["os"] != "ios" || g.Count.String() != "12" || m.Min != 100 || m.Max != 111 || m.Count.String() != "12" || m.Mean != 105.5 {
		t.Fatalf("%+v", g)
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
