package admin

import (
	"cmp"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/veil-telemetry/veil/internal/chart"
	"github.com/veil-telemetry/veil/internal/problem"
	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// Limits of a schema page.
const (
	// chartGroups is how many groups get a line of their own in the
	// count chart; the rest are summed into one "other" line.
	chartGroups = 5
	// breakdownRows bounds the rows of the ranked breakdown and of each
	// measure's table; the page says how many more there are.
	breakdownRows = 50
)

// schemaPageURL is the dashboard page of a schema version.
func schemaPageURL(name string, version int32) string {
	return "/schemas/" + url.PathEscape(name) + "/" + strconv.Itoa(int(version))
}

// releasableGroupBy lists the group-by choices a schema page offers: the
// schema's dimensions, one at a time, which is what the aggregates
// answer accepts. A release policy that allows fewer (the private
// releases work) narrows this list, and only this list.
func releasableGroupBy(sch *veilv1.Schema) []string {
	return sch.GetDimensions()
}

// release describes how the numbers of an aggregates answer were
// released, for the labels a schema page puts beside them.
type release struct {
	// Exact: the numbers are the true counts and sums of the released
	// groups. Two exact answers can be subtracted from one another, so
	// the page labels them "exact — subtractable".
	Exact bool
	// NoiseScale describes the noise of a noisy release ("" when exact),
	// e.g. "Laplace, scale 4.2".
	NoiseScale string
	// Provisional: some numbers may still change (a release that is not
	// final); the chart draws those buckets hollow.
	Provisional bool
	// PrivacyReport is the URL of the privacy report of the schema
	// version, "" until there is one.
	PrivacyReport string
}

// releaseOf reads the release labels of an answer. Today every answer is
// exact; this is the one place that reads the noise fields the private
// releases work adds to GetAggregatesResponse.
func releaseOf(*veilv1.GetAggregatesResponse) release {
	return release{Exact: true}
}

// bandOf returns the interval a noisy release gives for the count of
// one cell (e.g. its 95% confidence interval), ok false when the release
// gives none, as every exact release does. This is the one place that
// reads it; the chart draws it as a band around the line.
func bandOf(*veilv1.AggregateGroup) (low, high float64, ok bool) {
	return 0, 0, false
}

// provisionalOf reports whether the count of one cell may still change
// (a release that is not final); the chart draws it hollow. Exact
// releases are final.
func provisionalOf(*veilv1.AggregateGroup) bool {
	return false
}

// quantile is one percentile of a measure in one cell.
type quantile struct {
	Name  string // "p50", "p90", "p99"
	Value float64
}

// quantilesOf returns the percentiles the aggregates answer carries for
// one measure of one cell, in increasing order; none until the storage
// work adds them to MeasureStats. This is the one place that reads them.
func quantilesOf(*veilv1.MeasureStats) []quantile {
	return nil
}

// schemaView is the body of a schema page.
type schemaView struct {
	Name        string
	Version     int32
	Granularity string
	Dimensions  []string
	Measures    []string
	K           int

	Range      viewRange
	RangeLinks []rangeLink
	CustomFrom string // the range's bounds as <input type="datetime-local"> values
	CustomTo   string
	GroupBy    string
	Groupings  []string
	Stat       string   // what the measure charts show
	Stats      []string // the choices of Stat

	Release release
	// Withheld counts the cells (a group in a bucket) withheld for
	// counting fewer than K events.
	Withheld int
	// Total is the events in released cells.
	Total int64

	Counts     template.HTML
	Legend     []legendItem
	Breakdown  []breakdownRow
	MoreGroups int // groups beyond the breakdown's rows
	Groups     int

	MeasureViews []measureView

	// Accepted and Rejected are this version's ingest outcomes over the
	// range: exact operator counts.
	Accepted, Rejected int64
}

type rangeLink struct {
	Name, Label, URL string
	Current          bool
}

type legendItem struct {
	Swatch template.HTML
	Name   string
	Total  string
}

type breakdownRow struct {
	Rank   int
	Label  string
	Count  int64
	Share  float64 // of Total, in percent
	Frac   float64 // of the largest group, for the bar
	Series bool    // has a line of its own in the chart
}

type measureView struct {
	Name           string
	Count          int64
	Sum, Mean      float64
	Min, Max       float64
	Chart          template.HTML
	Legend         []legendItem
	Rows           []measureRow
	HasQuantiles   bool
	QuantilesByGrp bool // percentiles exist but only per group: not combined
}

type measureRow struct {
	Label     string
	Count     int64
	Sum, Mean float64
	Min, Max  float64
}

// measureStats are the statistics a measure chart can show per bucket:
// the mean (with percentiles when the answer has them), the sum, or the
// count of events that carried the measure.
var measureStats = []string{"mean", "sum", "count"}

// defaultStat is the statistic of a page whose URL names none.
const defaultStat = "mean"

// bucketMeasure sums one measure over the cells of a bucket.
type bucketMeasure struct {
	count int64
	sum   float64
	q     []quantile
}

// value is stat of b; NaN without events.
func (b bucketMeasure) value(stat string) float64 {
	if b.count == 0 {
		return math.NaN()
	}
	switch stat {
	case "sum":
		return b.sum
	case "count":
		return float64(b.count)
	}
	return b.sum / float64(b.count)
}

// groupAcc accumulates one group over the range.
type groupAcc struct {
	label    string
	total    int64
	byBucket []float64 // NaN where the group has no released cell
	// low, high and provisional are the cells' release bands and marks
	// (bandOf, provisionalOf); nil when no cell has one.
	low, high   []float64
	provisional []bool
	measures    map[string]*measureAcc
	byBucketM   map[string][]bucketMeasure // per measure, per bucket
}

// mark records the band and provisional mark of cell c at slot.
func (g *groupAcc) mark(c *veilv1.AggregateGroup, slot, buckets int) {
	if lo, hi, ok := bandOf(c); ok {
		if g.low == nil {
			g.low, g.high = nanSlice(buckets), nanSlice(buckets)
		}
		g.low[slot], g.high[slot] = addNaN(g.low[slot], lo), addNaN(g.high[slot], hi)
	}
	if provisionalOf(c) {
		if g.provisional == nil {
			g.provisional = make([]bool, buckets)
		}
		g.provisional[slot] = true
	}
}

type measureAcc struct {
	count    int64
	sum      float64
	min, max float64
}

func (m *measureAcc) add(st *veilv1.MeasureStats) {
	if st.GetCount() == 0 {
		return
	}
	if m.count == 0 {
		m.min, m.max = st.GetMin(), st.GetMax()
	}
	m.count += st.GetCount()
	m.sum += st.GetSum()
	m.min = min(m.min, st.GetMin())
	m.max = max(m.max, st.GetMax())
}

func (m *measureAcc) mean() float64 {
	if m.count == 0 {
		return math.NaN()
	}
	return m.sum / float64(m.count)
}

// groupLabel names a cell's group by its value of dim ("(not set)" when
// the events lacked it); "all events" without a group-by.
func groupLabel(g *structpb.Struct, dim string) string {
	if dim == "" {
		return "all events"
	}
	v, ok := g.GetFields()[dim]
	if !ok {
		return "(not set)"
	}
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return k.StringValue
	case *structpb.Value_BoolValue:
		return strconv.FormatBool(k.BoolValue)
	case *structpb.Value_NumberValue:
		return strconv.FormatFloat(k.NumberValue, 'f', -1, 64)
	case *structpb.Value_NullValue:
		return "(null)"
	}
	return "(not set)"
}

func nanSlice(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = math.NaN()
	}
	return s
}

// buildSchemaView turns an aggregates answer over r, grouped by groupBy
// ("" or one dimension), into the page's charts and tables; stat (one of
// measureStats) is what the measure charts show.
func buildSchemaView(sch *veilv1.Schema, k int, r viewRange, groupBy, stat string, resp *veilv1.GetAggregatesResponse) schemaView {
	v := schemaView{
		Name: sch.GetName(), Version: sch.GetVersion(), Granularity: sch.GetGranularity(),
		Dimensions: sch.GetDimensions(), Measures: sch.GetMeasures(), K: k,
		Range: r, GroupBy: groupBy, Groupings: releasableGroupBy(sch), Stat: stat, Stats: measureStats,
		Release: releaseOf(resp), Withheld: int(resp.GetSuppressedGroups()),
		CustomFrom: r.From.Format("2006-01-02T15:04"), CustomTo: r.To.Format("2006-01-02T15:04"),
	}
	base := schemaPageURL(v.Name, v.Version)
	for _, p := range presetRanges {
		q := url.Values{}
		if groupBy != "" {
			q.Set("group", groupBy)
		}
		q.Set("range", p.name)
		if stat != defaultStat {
			q.Set("stat", stat)
		}
		v.RangeLinks = append(v.RangeLinks, rangeLink{Name: p.name, Label: p.label, URL: base + "?" + q.Encode(), Current: r.Name == p.name})
	}

	// Overall per-bucket measure sums, and percentiles when each bucket
	// is one cell (no group-by).
	overall := map[string][]bucketMeasure{}
	for _, m := range v.Measures {
		overall[m] = make([]bucketMeasure, r.Buckets)
	}
	byLabel := map[string]*groupAcc{}
	var groups []*groupAcc
	counts := nanSlice(r.Buckets)
	for _, c := range resp.GetGroups() {
		slot := r.slot(c.GetBucket().AsTime())
		if slot < 0 {
			continue
		}
		label := groupLabel(c.GetGroup(), groupBy)
		g := byLabel[label]
		if g == nil {
			g = &groupAcc{label: label, byBucket: nanSlice(r.Buckets), measures: map[string]*measureAcc{}, byBucketM: map[string][]bucketMeasure{}}
			byLabel[label] = g
			groups = append(groups, g)
		}
		n := float64(c.GetCount())
		g.mark(c, slot, r.Buckets)
		g.total += c.GetCount()
		g.byBucket[slot] = addNaN(g.byBucket[slot], n)
		counts[slot] = addNaN(counts[slot], n)
		v.Total += c.GetCount()
		for name, st := range c.GetMeasures() {
			ma := g.measures[name]
			if ma == nil {
				ma = &measureAcc{}
				g.measures[name] = ma
			}
			ma.add(st)
			gb := g.byBucketM[name]
			if gb == nil {
				gb = make([]bucketMeasure, r.Buckets)
				g.byBucketM[name] = gb
			}
			gb[slot].count += st.GetCount()
			gb[slot].sum += st.GetSum()
			ob, ok := overall[name]
			if !ok {
				continue
			}
			ob[slot].count += st.GetCount()
			ob[slot].sum += st.GetSum()
			if qs := quantilesOf(st); len(qs) > 0 {
				ob[slot].q = qs
			}
		}
	}
	slices.SortStableFunc(groups, func(a, b *groupAcc) int {
		if c := cmp.Compare(b.total, a.total); c != 0 {
			return c
		}
		return strings.Compare(a.label, b.label)
	})
	v.Groups = len(groups)

	// The count chart: one line per leading group, the rest as one.
	var series []chart.Series
	if groupBy == "" {
		series = []chart.Series{{Name: "events", Values: counts}}
		if len(groups) == 1 {
			g := groups[0]
			series[0].Low, series[0].High, series[0].Provisional = g.low, g.high, g.provisional
		}
	} else {
		for i, g := range groups {
			if i == chartGroups {
				rest := nanSlice(r.Buckets)
				for _, o := range groups[chartGroups:] {
					for j, x := range o.byBucket {
						if !math.IsNaN(x) {
							rest[j] = addNaN(rest[j], x)
						}
					}
				}
				series = append(series, chart.Series{Name: "other " + strconv.Itoa(len(groups)-chartGroups) + " groups", Values: rest})
				break
			}
			series = append(series, chart.Series{Name: g.label, Values: g.byBucket, Low: g.low, High: g.high, Provisional: g.provisional})
		}
	}
	v.Counts = chart.TimeSeries{
		ID: "counts", Title: "Events per " + r.Bucket + ", " + r.Label(),
		Start: r.From, Step: r.Step, Buckets: r.Buckets, Series: series,
	}.SVG()
	for i, s := range series {
		total := 0.0
		for _, x := range s.Values {
			if !math.IsNaN(x) {
				total += x
			}
		}
		v.Legend = append(v.Legend, legendItem{Swatch: chart.Swatch(i), Name: s.Name, Total: chart.Format(total)})
	}

	// The ranked breakdown.
	var largest int64
	if len(groups) > 0 {
		largest = groups[0].total
	}
	for i, g := range groups {
		if i == breakdownRows {
			v.MoreGroups = len(groups) - breakdownRows
			break
		}
		row := breakdownRow{Rank: i + 1, Label: g.label, Count: g.total, Series: i < chartGroups}
		if v.Total > 0 {
			row.Share = 100 * float64(g.total) / float64(v.Total)
		}
		if largest > 0 {
			row.Frac = float64(g.total) / float64(largest)
		}
		v.Breakdown = append(v.Breakdown, row)
	}

	// Measures: the mean over time, with percentiles when the answer has
	// them per bucket, and a table per group.
	for mi, name := range v.Measures {
		mv := measureView{Name: name}
		tot := &measureAcc{}
		for _, g := range groups {
			if ma := g.measures[name]; ma != nil && ma.count > 0 {
				tot.add(&veilv1.MeasureStats{Count: ma.count, Sum: ma.sum, Min: ma.min, Max: ma.max})
			}
		}
		mv.Count, mv.Sum, mv.Mean, mv.Min, mv.Max = tot.count, tot.sum, tot.mean(), tot.min, tot.max
		values := nanSlice(r.Buckets)
		qseries := map[string][]float64{}
		var qnames []string
		for j, b := range overall[name] {
			values[j] = b.value(stat)
			for _, q := range b.q {
				if qseries[q.Name] == nil {
					qseries[q.Name] = nanSlice(r.Buckets)
					qnames = append(qnames, q.Name)
				}
				qseries[q.Name][j] = q.Value
			}
		}
		var ms []chart.Series
		if groupBy == "" {
			ms = []chart.Series{{Name: stat, Values: values}}
			if stat == "mean" {
				for _, qn := range qnames {
					ms = append(ms, chart.Series{Name: qn, Values: qseries[qn]})
				}
				mv.HasQuantiles = len(qnames) > 0
			}
		} else {
			// One line per leading group: a mean of the rest would
			// not be one of theirs.
			for _, g := range groups[:min(len(groups), chartGroups)] {
				vals := nanSlice(r.Buckets)
				for j, b := range g.byBucketM[name] {
					vals[j] = b.value(stat)
				}
				ms = append(ms, chart.Series{Name: g.label, Values: vals})
			}
		}
		mv.Chart = chart.TimeSeries{
			ID: "m" + strconv.Itoa(mi), Title: name + ", " + stat + " per " + r.Bucket + ", " + r.Label(),
			Start: r.From, Step: r.Step, Buckets: r.Buckets, Series: ms,
		}.SVG()
		for i, s := range ms {
			mv.Legend = append(mv.Legend, legendItem{Swatch: chart.Swatch(i), Name: s.Name})
		}
		if groupBy != "" {
			for i, g := range groups {
				if i == breakdownRows {
					break
				}
				ma := g.measures[name]
				if ma == nil {
					ma = &measureAcc{}
				}
				mv.Rows = append(mv.Rows, measureRow{Label: g.label, Count: ma.count, Sum: ma.sum, Mean: ma.mean(), Min: ma.min, Max: ma.max})
			}
		}
		v.MeasureViews = append(v.MeasureViews, mv)
	}
	return v
}

// IngestURL is the ingest page over the same range.
func (v schemaView) IngestURL() string {
	q := url.Values{}
	v.Range.query(q)
	return "/ingest?" + q.Encode()
}

// addNaN adds x to acc, reading a NaN acc (no value yet) as 0.
func addNaN(acc, x float64) float64 {
	if math.IsNaN(acc) {
		return x
	}
	return acc + x
}

// schemaPage serves /schemas/{name}/{version}: the aggregates of one
// schema version over a range, grouped by at most one dimension.
func (s *Server) schemaPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name := r.PathValue("name")
	version, err := strconv.Atoi(r.PathValue("version"))
	if err != nil || version <= 0 || version > math.MaxInt32 {
		s.dashboardError(w, problem.Errorf(problem.NotFound, "no such schema version"))
		return
	}
	sch, err := s.schemas.GetSchema(ctx, &veilv1.GetSchemaRequest{Name: name, Version: int32(version)})
	if err != nil {
		s.dashboardError(w, err)
		return
	}
	q := r.URL.Query()
	var msgs []string
	rng, err := parseRange(q, s.cfg.Now(), sch.GetGranularity(), maxHourSpan)
	if err != nil {
		msgs = append(msgs, err.Error())
	}
	stat := cmp.Or(q.Get("stat"), defaultStat)
	if !slices.Contains(measureStats, stat) {
		msgs = append(msgs, "unknown measure statistic "+strconv.Quote(stat)+": showing the mean")
		stat = defaultStat
	}
	groupBy := q.Get("group")
	if groupBy != "" && !slices.Contains(releasableGroupBy(sch), groupBy) {
		msgs = append(msgs, "cannot group by "+strconv.Quote(groupBy)+": not a dimension of this schema version")
		groupBy = ""
	}
	aq := aggregateQuery{schema: name, version: version, from: rng.From, to: rng.To, bucket: rng.Bucket}
	if groupBy != "" {
		aq.groupBy = []string{groupBy}
	}
	resp, err := s.aggregates(ctx, aq)
	if err != nil {
		s.dashboardError(w, err)
		return
	}
	code := http.StatusOK
	if len(msgs) > 0 {
		code = http.StatusBadRequest
	}
	view := buildSchemaView(sch, s.cfg.K, rng, groupBy, stat, resp)
	stats, err := s.cfg.DB.Stats(ctx, rng.From, rng.To)
	if err != nil {
		s.dashboardError(w, storageError(err))
		return
	}
	for _, row := range stats {
		if row.Schema != name || row.Version != version {
			continue
		}
		switch row.Outcome {
		case "accepted":
			view.Accepted += row.Count
		case "rejected":
			view.Rejected += row.Count
		}
	}
	s.renderPage(w, code, "schema", page{
		Title: name + " v" + strconv.Itoa(version), Now: s.stamp(), Error: strings.Join(msgs, "; "), Body: view,
	})
}
