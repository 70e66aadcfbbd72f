package chart

import (
	"encoding/xml"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"
)

var start = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func nan() float64 { return math.NaN() }

// parse checks that out is well-formed XML and returns it as a string.
func parse(t *testing.T, out string) string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(out))
	for {
		_, err := d.Token()
		if err != nil {
			if err.Error() == "EOF" {
				return out
			}
			t.Fatalf("not well-formed: %v\n%s", err, out)
		}
	}
}

func TestTimeSeriesPointsAndGaps(t *testing.T) {
	c := TimeSeries{ID: "c", Title: "events", Start: start, Step: time.Hour, Buckets: 6, Series: []Series{
		{Name: "ios", Values: []float64{1, 2, nan(), 4, 5, nan()}},
		{Name: "a<b", Values: []float64{nan(), nan(), 7}},
	}}
	out := parse(t, string(c.SVG()))
	if got := strings.Count(out, `class="pt"`); got != 5 {
		t.Errorf("%d markers, want 5", got)
	}
	if !strings.Contains(out, `data-name="ios" data-points="4"`) || !strings.Contains(out, `data-name="a&lt;b" data-points="1"`) {
		t.Errorf("series attributes missing:\n%s", out)
	}
	// The gap at bucket 2 splits the line in two subpaths; nothing is
	// drawn at 0 for it.
	m := regexp.MustCompile(`stroke="#0072B2" d="([^"]*)"`).FindStringSubmatch(out)
	if m == nil || strings.Count(m[1], "M") != 2 || strings.Count(m[1], "L") != 2 {
		t.Errorf("ios path %q, want two runs of two", m)
	}
	if strings.Contains(out, `data-bucket="2" data-value="0"`) {
		t.Error("a missing value drawn as zero")
	}
	if !strings.Contains(out, `data-buckets="6"`) || !strings.Contains(out, "2026-03-01 03:00 UTC: 4") {
		t.Errorf("buckets or tooltip missing:\n%s", out)
	}
}

func TestTimeSeriesDenseMarksOnlyIsolated(t *testing.T) {
	vals := make([]float64, 720)
	for i := range vals {
		vals[i] = float64(i % 50)
	}
	vals[100], vals[102] = nan(), nan() // 101 is isolated
	c := TimeSeries{ID: "d", Start: start, Step: time.Hour, Buckets: 720, Series: []Series{{Name: "x", Values: vals}}}
	out := parse(t, string(c.SVG()))
	if got := strings.Count(out, `class="pt"`); got != 1 || !strings.Contains(out, `data-bucket="101"`) {
		t.Errorf("%d markers, want only the isolated bucket 101", got)
	}
	if !strings.Contains(out, `data-points="718"`) {
		t.Error("data-points is not 718")
	}
	// 30 days of hours: ticks every 7 days at most 8 of them.
	if n := strings.Count(out, `v4" stroke="#888"`); n < 3 || n > maxXTicks {
		t.Errorf("%d x ticks", n)
	}
}

func TestTimeSeriesEmptyBandProvisional(t *testing.T) {
	out := parse(t, string(TimeSeries{ID: "e", Start: start, Step: 24 * time.Hour, Buckets: 7}.SVG()))
	if !strings.Contains(out, "No released values") {
		t.Error("empty chart does not say so")
	}
	c := TimeSeries{ID: "b", Start: start, Step: time.Hour, Buckets: 3, Series: []Series{{
		Name: "noisy", Values: []float64{10, 12, 11}, Low: []float64{8, 9, nan()}, High: []float64{12, 15, nan()},
		Provisional: []bool{false, false, true},
	}}}
	out = parse(t, string(c.SVG()))
	if strings.Count(out, `class="band"`) != 1 || !strings.Contains(out, "(provisional)") || !strings.Contains(out, `fill="#fff"`) {
		t.Errorf("band or provisional marker missing:\n%s", out)
	}
	// The y axis covers the band's top.
	if !strings.Contains(out, `>15</text>`) && !strings.Contains(out, `>16</text>`) && !strings.Contains(out, `>20</text>`) {
		t.Errorf("y axis does not reach 15:\n%s", out)
	}
	// Negative bucket counts do not panic.
	_ = TimeSeries{Buckets: -1, Series: []Series{{Values: []float64{1}}}}.SVG()
}

func TestFormat(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 7: "7", 9999: "9999", 12345: "12.3k", 250000: "250k", 1.5e6: "1.5M", 2.25: "2.25",
		0.0123: "0.0123", 123.4: "123", math.NaN(): "—", -12000: "-12k",
	} {
		if got := Format(v); got != want && !math.IsNaN(v) {
			t.Errorf("Format(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestNiceCeil(t *testing.T) {
	for _, tc := range []struct{ max, top, step float64 }{
		{0, 1, 0.25}, {7, 8, 2}, {100, 100, 25}, {1234, 1500, 500}, {0.3, 0.3, 0.1}, {0.31, 0.4, 0.1},
	} {
		top, step := niceCeil(tc.max)
		if math.Abs(top-tc.top) > 1e-9 || math.Abs(step-tc.step) > 1e-9 {
			t.Errorf("niceCeil(%v) = %v, %v; want %v, %v", tc.max, top, step, tc.top, tc.step)
		}
	}
}

func TestBars(t *testing.T) {
	for _, f := range []float64{-1, 0, 0.5, 2, math.NaN()} {
		parse(t, string(Bar(f)))
	}
	if !strings.Contains(string(Bar(0.5)), `<rect width="100"`) || !strings.Contains(string(Bar(3)), `<rect width="200" height="12" fill="#0072B2"`) {
		t.Error("bar widths")
	}
	parse(t, string(WithheldBar()))
	for i := range 8 {
		parse(t, string(Swatch(i)))
	}
}
