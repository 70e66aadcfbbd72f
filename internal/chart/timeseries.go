package chart

import (
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// Series is one line of a TimeSeries.
type Series struct {
	// Name is the legend and tooltip name of the line.
	Name string
	// Values holds one value per bucket of the chart; NaN marks a bucket
	// with no released value, drawn as a gap. Values may be shorter than
	// the chart (the rest are gaps); a longer tail is ignored.
	Values []float64
	// Low and High, when both are set (same length as Values), draw a
	// band around the line, e.g. a confidence interval of a noisy
	// release. NaN entries leave the band out at that bucket.
	Low, High []float64
	// Provisional marks buckets whose value may still change (a release
	// that is not final): their markers are drawn hollow. Nil: none.
	Provisional []bool
}

// TimeSeries is a line chart over Buckets equal time buckets starting at
// Start, Step apart.
type TimeSeries struct {
	// ID prefixes the ids of the chart's title and description elements;
	// it must be unique in the page.
	ID string
	// Title is the chart's accessible name.
	Title   string
	Start   time.Time
	Step    time.Duration
	Buckets int
	Series  []Series
	// Width and Height are the viewBox size (0: 960 by 300). The SVG
	// scales to its container's width.
	Width, Height int
	// MaxMarkers bounds how many values get a marker with a tooltip (0:
	// DefaultMaxMarkers); past it only isolated values, which no line
	// shows, get one.
	MaxMarkers int
}

// DefaultMaxMarkers is TimeSeries.MaxMarkers when it is 0.
const DefaultMaxMarkers = 400

// Plot margins, in viewBox units.
const (
	padLeft   = 52
	padRight  = 12
	padTop    = 10
	padBottom = 26
)

// tickSteps are the x-axis tick intervals tried, shortest first.
var tickSteps = []time.Duration{
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour,
	28 * 24 * time.Hour, 91 * 24 * time.Hour,
}

// maxXTicks bounds the labelled ticks of the x axis.
const maxXTicks = 8

// SVG renders the chart. Every line is a <g class="series"> carrying its
// name (data-name) and how many values it has (data-points); each marker
// is a <path class="pt"> with data-bucket (the index) and data-value and
// a <title> tooltip.
func (c TimeSeries) SVG() template.HTML {
	w, h := float64(c.Width), float64(c.Height)
	if w <= 0 || h <= 0 {
		w, h = 960, 300
	}
	c.Buckets = max(c.Buckets, 0)
	n := max(c.Buckets, 1)
	plotW, plotH := w-padLeft-padRight, h-padTop-padBottom
	slot := plotW / float64(n)
	xAt := func(i int) float64 { return padLeft + (float64(i)+0.5)*slot }

	vmax, points := 0.0, 0
	for _, s := range c.Series {
		for i, v := range s.Values[:min(len(s.Values), c.Buckets)] {
			if math.IsNaN(v) {
				continue
			}
			points++
			vmax = max(vmax, v)
			if s.Low != nil && s.High != nil && i < len(s.High) && !math.IsNaN(s.High[i]) {
				vmax = max(vmax, s.High[i])
			}
		}
	}
	top, step := niceCeil(vmax)
	yAt := func(v float64) float64 { return padTop + plotH*(1-v/top) }
	maxMarkers := c.MaxMarkers
	if maxMarkers <= 0 {
		maxMarkers = DefaultMaxMarkers
	}

	b := make([]byte, 0, 4096+points*24)
	b = append(b, `<svg class="chart" viewBox="0 0 `...)
	b = appendNum(b, w)
	b = append(b, ' ')
	b = appendNum(b, h)
	b = append(b, `" role="img" aria-labelledby="`...)
	b = append(b, esc(c.ID)...)
	b = append(b, `-t `...)
	b = append(b, esc(c.ID)...)
	b = append(b, `-d" data-buckets="`...)
	b = strconv.AppendInt(b, int64(c.Buckets), 10)
	b = append(b, `"><title id="`...)
	b = append(b, esc(c.ID)...)
	b = append(b, `-t">`...)
	b = append(b, esc(c.Title)...)
	b = append(b, `</title><desc id="`...)
	b = append(b, esc(c.ID)...)
	b = append(b, `-d">`...)
	b = append(b, esc(c.describe(points, vmax))...)
	b = append(b, `</desc>`...)

	// Grid and y axis.
	b = append(b, `<g class="axis" font-size="11" fill="#444">`...)
	for v := 0.0; v <= top+step/2; v += step {
		y := yAt(v)
		b = append(b, `<path d="M`...)
		b = appendNum(b, padLeft)
		b = append(b, ' ')
		b = appendNum(b, y)
		b = append(b, 'H')
		b = appendNum(b, w-padRight)
		b = append(b, `" stroke="#e3e3e3"/><text x="`...)
		b = appendNum(b, padLeft-6)
		b = append(b, `" y="`...)
		b = appendNum(b, y+4)
		b = append(b, `" text-anchor="end">`...)
		b = append(b, Format(v)...)
		b = append(b, `</text>`...)
	}
	b = c.appendXAxis(b, xAt, h-padBottom)
	b = append(b, `</g>`...)

	if points == 0 {
		b = append(b, `<text class="empty" x="`...)
		b = appendNum(b, padLeft+plotW/2)
		b = append(b, `" y="`...)
		b = appendNum(b, padTop+plotH/2)
		b = append(b, `" text-anchor="middle" font-size="13" fill="#444">No released values in this range</text>`...)
	}
	allMarkers := points <= maxMarkers
	for si, s := range c.Series {
		b = c.appendSeries(b, si, s, xAt, yAt, allMarkers)
	}
	b = append(b, `</svg>`...)
	return template.HTML(b)
}

// describe is the chart's text description for screen readers.
func (c TimeSeries) describe(points int, vmax float64) string {
	if c.Buckets <= 0 {
		return "No buckets."
	}
	end := c.Start.Add(time.Duration(c.Buckets) * c.Step)
	return strconv.Itoa(len(c.Series)) + " series, " + strconv.Itoa(points) + " values in " +
		strconv.Itoa(c.Buckets) + " buckets from " + c.Start.UTC().Format("2006-01-02 15:04") +
		" to " + end.UTC().Format("2006-01-02 15:04") + " UTC; largest " + Format(vmax) + "."
}

// appendXAxis writes the x baseline and the labelled ticks: the shortest
// tick step with at most maxXTicks ticks, at bucket starts aligned to
// that step (UTC), labelled with the time of day, or the date at
// midnight and for steps of a day or more.
func (c TimeSeries) appendXAxis(b []byte, xAt func(int) float64, base float64) []byte {
	b = append(b, `<path d="M`...)
	b = appendNum(b, padLeft)
	b = append(b, ' ')
	b = appendNum(b, base)
	b = append(b, 'H')
	b = appendNum(b, xAt(c.Buckets-1)+(xAt(1)-xAt(0))/2)
	b = append(b, `" stroke="#888"/>`...)
	if c.Buckets <= 0 || c.Step <= 0 {
		return b
	}
	span := time.Duration(c.Buckets) * c.Step
	tick := tickSteps[len(tickSteps)-1]
	for _, st := range tickSteps {
		if st >= c.Step && span/st <= maxXTicks {
			tick = st
			break
		}
	}
	for i := range c.Buckets {
		t := c.Start.Add(time.Duration(i) * c.Step).UTC()
		if t.Unix()%int64(tick/time.Second) != 0 {
			continue
		}
		x := xAt(i)
		b = append(b, `<path d="M`...)
		b = appendNum(b, x)
		b = append(b, ' ')
		b = appendNum(b, base)
		b = append(b, `v4" stroke="#888"/><text x="`...)
		b = appendNum(b, x)
		b = append(b, `" y="`...)
		b = appendNum(b, base+16)
		b = append(b, `" text-anchor="middle">`...)
		if tick < 24*time.Hour && (t.Hour() != 0 || t.Minute() != 0) {
			b = t.AppendFormat(b, "15:04")
		} else {
			b = t.AppendFormat(b, "Jan 2")
		}
		b = append(b, `</text>`...)
	}
	return b
}

// appendSeries writes one line: its band, its path (a subpath per run of
// consecutive values, so a missing bucket is a gap) and its markers.
func (c TimeSeries) appendSeries(b []byte, si int, s Series, xAt func(int) float64, yAt func(float64) float64, allMarkers bool) []byte {
	colour, dash := Style(si)
	vals := s.Values[:min(len(s.Values), c.Buckets)]
	points := 0
	for _, v := range vals {
		if !math.IsNaN(v) {
			points++
		}
	}
	b = append(b, `<g class="series" data-name="`...)
	b = append(b, esc(s.Name)...)
	b = append(b, `" data-points="`...)
	b = strconv.AppendInt(b, int64(points), 10)
	b = append(b, `">`...)
	if s.Low != nil && s.High != nil {
		b = appendBand(b, vals, s.Low, s.High, colour, xAt, yAt)
	}
	b = append(b, `<path fill="none" stroke-width="2" stroke-linejoin="round" stroke="`...)
	b = append(b, colour...)
	b = append(b, '"')
	if dash != "" {
		b = append(b, ` stroke-dasharray="`...)
		b = append(b, dash...)
		b = append(b, '"')
	}
	b = append(b, ` d="`...)
	prev := false
	for i, v := range vals {
		if math.IsNaN(v) {
			prev = false
			continue
		}
		if prev {
			b = append(b, 'L')
		} else {
			b = append(b, 'M')
		}
		b = appendNum(b, xAt(i))
		b = append(b, ' ')
		b = appendNum(b, yAt(v))
		prev = true
	}
	b = append(b, `"/>`...)
	for i, v := range vals {
		if math.IsNaN(v) {
			continue
		}
		isolated := (i == 0 || math.IsNaN(vals[i-1])) && (i == len(vals)-1 || math.IsNaN(vals[i+1]))
		if !allMarkers && !isolated {
			continue
		}
		hollow := i < len(s.Provisional) && s.Provisional[i]
		b = append(b, `<path class="pt" data-bucket="`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `" data-value="`...)
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
		b = append(b, `" d="`...)
		b = append(b, marker(si, xAt(i), yAt(v), 3.5)...)
		if hollow {
			b = append(b, `" fill="#fff" stroke="`...)
		} else {
			b = append(b, `" fill="`...)
		}
		b = append(b, colour...)
		b = append(b, `"><title>`...)
		b = append(b, esc(s.Name)...)
		b = append(b, ", "...)
		b = c.Start.Add(time.Duration(i)*c.Step).UTC().AppendFormat(b, "2006-01-02 15:04 UTC")
		b = append(b, ": "...)
		b = append(b, Format(v)...)
		if hollow {
			b = append(b, " (provisional)"...)
		}
		b = append(b, `</title></path>`...)
	}
	return append(b, `</g>`...)
}

// appendBand writes the band between low and high as one polygon per run
// of buckets where both are known.
func appendBand(b []byte, vals, low, high []float64, colour string, xAt func(int) float64, yAt func(float64) float64) []byte {
	ok := func(i int) bool {
		return i < len(low) && i < len(high) && !math.IsNaN(low[i]) && !math.IsNaN(high[i])
	}
	for i := 0; i < len(vals); {
		if !ok(i) {
			i++
			continue
		}
		j := i
		for j < len(vals) && ok(j) {
			j++
		}
		b = append(b, `<path class="band" fill-opacity="0.18" fill="`...)
		b = append(b, colour...)
		b = append(b, `" d="M`...)
		for k := i; k < j; k++ {
			if k > i {
				b = append(b, 'L')
			}
			b = appendNum(b, xAt(k))
			b = append(b, ' ')
			b = appendNum(b, yAt(high[k]))
		}
		for k := j - 1; k >= i; k-- {
			b = append(b, 'L')
			b = appendNum(b, xAt(k))
			b = append(b, ' ')
			b = appendNum(b, yAt(low[k]))
		}
		b = append(b, `z"/>`...)
		i = j
	}
	return b
}

func esc(s string) string { return template.HTMLEscapeString(strings.ToValidUTF8(s, "\uFFFD")) }
