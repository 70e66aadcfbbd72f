package admin

import (
	"bytes"
	"strconv"
	"testing"
	"time"

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
		v := buildSchemaView(sch, DefaultK, r, "os", resp)
		buf.Reset()
		if err := dashboardPages["schema"].ExecuteTemplate(&buf, "base", page{Title: "x", Body: v}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "page-bytes")
}
