package admin

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// benchAggregates is an aggregates answer of 30 days of hourly buckets
// with 20 groups of one dimension, every cell released, one measure each.
func benchAggregates(r viewRange, groups int) *veilv1.GetAggregatesResponse {
	resp := &veilv1.GetAggregatesResponse{K: DefaultK, SuppressedGroups: 17}
	for i := range r.Buckets {
		b := timestamppb.New(r.From.Add(time.Duration(i) * r.Step))
		for g := range groups {
			grp, _ := structpb.NewStruct(map[string]any{"os": "os-" + strconv.Itoa(g)})
			n := int64(10 + (i*7+g*13)%500)
			resp.Groups = append(resp.Groups, &veilv1.AggregateGroup{
				Bucket: b, Group: grp, Count: n,
				Measures: map[string]*veilv1.MeasureStats{"cold_start_ms": {Count: n, Sum: float64(n) * 240, Min: 12, Max: 900, Mean: 240}},
			})
		}
	}
	return resp
}

// BenchmarkSchemaPage renders a schema page (charts, breakdown, measure
// table and the HTML template) from an aggregates answer of 30 days of
// hourly buckets grouped into 20 groups: 14,400 cells. The database query
// is not part of it.
func BenchmarkSchemaPage(b *testing.B) {
	now := time.Date(2026, 5, 10, 13, 25, 0, 0, time.UTC)
	r, err := parseRange(map[string][]string{"range": {"30d"}}, now, "hour", maxHourSpan)
	if err != nil || r.Buckets != 720 {
		b.Fatal(r, err)
	}
	resp := benchAggregates(r, 20)
	sch := &veilv1.Schema{Name: "app.launch", Version: 1, Granularity: "hour", Dimensions: []string{"os", "app_version"}, Measures: []string{"cold_start_ms"}}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		v := buildSchemaView(sch, DefaultK, r, "os", "mean", resp)
		buf.Reset()
		if err := dashboardPages["schema"].ExecuteTemplate(&buf, "base", page{Title: "x", Body: v}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "page-bytes")
}

// BenchmarkSchemaPageRequest is the whole request for the page of
// BenchmarkSchemaPage on a real PostgreSQL: 30 days of hourly rollups in
// 20 groups (k = 2, two events a cell), the aggregates query, the charts
// and the template, over loopback HTTP.
func BenchmarkSchemaPageRequest(b *testing.B) {
	tok, err := ParseTokens(strings.NewReader(testToken + "\n"))
	if err != nil {
		b.Fatal(err)
	}
	db := storagetest.New(b)
	now := time.Now().UTC()
	srv, err := New(Config{DB: db, Tokens: tok, K: 2, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	doc, err := os.ReadFile("testdata/app.launch.json")
	if err != nil {
		b.Fatal(err)
	}
	req, _ := http.NewRequest("POST", ts.URL+"/v1/schemas", strings.NewReader(`{"document":`+string(doc)+`}`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		b.Fatalf("register: %v %v", resp, err)
	}
	w := storagetest.NewWriter(b, db, storage.WriterConfig{})
	defer w.Close(context.Background())
	hour := now.Truncate(time.Hour)
	for day := range 30 {
		batch := &storage.Batch{}
		for h := range 24 {
			bucket := hour.Add(-time.Duration(day*24+h) * time.Hour)
			for g := range 20 {
				for range 2 {
					batch.Records = append(batch.Records, storage.Record{
						Bucket: bucket, Schema: "app.launch", Version: 1,
						Dimensions: map[string]any{"os": "os-" + strconv.Itoa(g), "app_version": "1.2"},
						Measures:   map[string]float64{"cold_start_ms": float64(100 + g)},
					})
				}
			}
		}
		if _, err := w.Write(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	get, _ := http.NewRequest("GET", ts.URL+"/schemas/app.launch/1?range=30d&group=os", nil)
	get.Header.Set("Authorization", "Bearer "+testToken)
	var size int
	for b.Loop() {
		resp, err := http.DefaultClient.Do(get)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`data-buckets="720"`)) || !bytes.Contains(body, []byte(`data-name="os-0" data-points="720"`)) && !bytes.Contains(body, []byte(`other 15 groups`)) {
			b.Fatalf("%d %.300s", resp.StatusCode, body)
		}
		size = len(body)
	}
	b.ReportMetric(float64(size), "page-bytes")
}
