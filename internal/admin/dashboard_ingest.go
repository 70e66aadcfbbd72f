package admin

import (
	"cmp"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/veil-telemetry/veil/internal/chart"
)

// Limits of the ingest page, which asks storage for one bucket at a time.
const (
	// ingestHourSpan is the longest range the ingest page shows in hour
	// buckets.
	ingestHourSpan = 48 * time.Hour
	// maxIngestBuckets bounds the buckets, and so the queries, of one
	// ingest page.
	maxIngestBuckets = 100
)

// reasonURL links a reason code to its row in docs/reason-codes.md.
func reasonURL(docs, code string) string {
	return docs + "reason-codes.md#" + url.PathEscape(code)
}

// ingestView is the body of the ingest health page.
type ingestView struct {
	Range      viewRange
	RangeLinks []rangeLink
	CustomFrom string
	CustomTo   string

	Accepted, Rejected int64
	Chart              template.HTML
	Legend             []legendItem
	Reasons            []reasonRow
	BySchema           []schemaOutcomes
}

type reasonRow struct {
	Code  string
	Count int64
	Share float64 // of Rejected, in percent
	Frac  float64 // of the commonest reason, for the bar
}

type schemaOutcomes struct {
	Name               string
	Version            int32
	Accepted, Rejected int64
}

// ingestPage serves /ingest: accepted and rejected events over a range,
// the rejections by reason code, and the outcomes per schema version.
// These are exact operator counts of events, not released aggregates.
func (s *Server) ingestPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var msg string
	rng, err := parseRange(r.URL.Query(), s.cfg.Now(), "hour", ingestHourSpan)
	if err == nil && rng.Buckets > maxIngestBuckets {
		rng, _ = parseRange(url.Values{}, s.cfg.Now(), "hour", ingestHourSpan)
		err = &rangeError{"the ingest page shows at most 100 days: showing the last 24 hours"}
	}
	if err != nil {
		msg = err.Error()
	}
	v := ingestView{
		Range: rng, CustomFrom: rng.From.Format("2006-01-02T15:04"), CustomTo: rng.To.Format("2006-01-02T15:04"),
	}
	for _, p := range presetRanges {
		v.RangeLinks = append(v.RangeLinks, rangeLink{Name: p.name, Label: p.label, URL: "/ingest?range=" + p.name, Current: rng.Name == p.name})
	}
	accepted, rejected := nanSlice(rng.Buckets), nanSlice(rng.Buckets)
	reasons := map[string]int64{}
	type sv struct {
		name    string
		version int32
	}
	bySchema := map[sv]*schemaOutcomes{}
	for i := range rng.Buckets {
		from := rng.From.Add(time.Duration(i) * rng.Step)
		rows, err := s.cfg.DB.Stats(ctx, from, from.Add(rng.Step))
		if err != nil {
			s.dashboardError(w, storageError(err))
			return
		}
		// A bucket with no events is a true zero here: these counts
		// have no threshold.
		accepted[i], rejected[i] = 0, 0
		for _, row := range rows {
			k := sv{row.Schema, int32(row.Version)}
			so := bySchema[k]
			if so == nil {
				so = &schemaOutcomes{Name: row.Schema, Version: int32(row.Version)}
				bySchema[k] = so
			}
			switch row.Outcome {
			case "accepted":
				accepted[i] += float64(row.Count)
				v.Accepted += row.Count
				so.Accepted += row.Count
			case "rejected":
				rejected[i] += float64(row.Count)
				v.Rejected += row.Count
				so.Rejected += row.Count
				reasons[row.Reason] += row.Count
			}
		}
	}
	series := []chart.Series{{Name: "accepted", Values: accepted}, {Name: "rejected", Values: rejected}}
	v.Chart = chart.TimeSeries{
		ID: "ingest", Title: "Accepted and rejected events per " + rng.Bucket + ", " + rng.Label(),
		Start: rng.From, Step: rng.Step, Buckets: rng.Buckets, Series: series,
	}.SVG()
	v.Legend = []legendItem{
		{Swatch: chart.Swatch(0), Name: "accepted", Total: chart.Format(float64(v.Accepted))},
		{Swatch: chart.Swatch(1), Name: "rejected", Total: chart.Format(float64(v.Rejected))},
	}
	for code, n := range reasons {
		v.Reasons = append(v.Reasons, reasonRow{Code: code, Count: n})
	}
	slices.SortFunc(v.Reasons, func(a, b reasonRow) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Code, b.Code))
	})
	for i := range v.Reasons {
		v.Reasons[i].Share = 100 * float64(v.Reasons[i].Count) / float64(v.Rejected)
		v.Reasons[i].Frac = float64(v.Reasons[i].Count) / float64(v.Reasons[0].Count)
	}
	for _, so := range bySchema {
		v.BySchema = append(v.BySchema, *so)
	}
	slices.SortFunc(v.BySchema, func(a, b schemaOutcomes) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
	code := http.StatusOK
	if msg != "" {
		code = http.StatusBadRequest
	}
	s.renderPage(w, code, "ingest", page{Title: "Ingest health", Nav: "ingest", Now: s.stamp(), Error: msg, Body: v})
}
