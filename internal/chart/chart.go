// Package chart draws the dashboard's charts as SVG text on the server: a
// time series of one or more lines over equal time buckets, and the
// proportional bar of a ranked breakdown. The output is markup to place
// inline in an HTML page, so a page with charts needs no script, no
// image requests and nothing beyond a strict Content-Security-Policy, and
// a test can read the values back out of the text.
//
// Series are told apart by more than colour: each has its own colour from
// a palette chosen to stay distinct under the common colour-vision
// deficiencies (Okabe and Ito's), its own dash pattern and its own marker
// shape. Nothing is coded in red against green.
//
// A value that was not released (a bucket with no value) is a gap in the
// line, never a zero.
package chart

import (
	"html/template"
	"math"
	"strconv"
	"strings"
)

// Palette is the colour of series i (mod len): Okabe and Ito's palette
// without its yellow, which is too light on white, ordered so that
// neighbouring series differ in lightness as well as hue.
var Palette = [...]string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#000000", "#D55E00", "#56B4E9"}

// dashes is the stroke-dasharray of series i (mod len); "" is solid.
var dashes = [...]string{"", "7 4", "2 3", "9 3 2 3", "4 4", "12 4", "1 3"}

// Style returns the colour and dash pattern of series i.
func Style(i int) (colour, dash string) {
	return Palette[i%len(Palette)], dashes[i%len(dashes)]
}

// Swatch is a small legend sample of series i: a line in its colour and
// dash pattern with its marker, to sit before the series' name.
func Swatch(i int) template.HTML {
	var b strings.Builder
	colour, dash := Style(i)
	b.WriteString(`<svg class="swatch" width="36" height="12" viewBox="0 0 36 12" aria-hidden="true"><path d="M1 6H35" fill="none" stroke-width="2" stroke="`)
	b.WriteString(colour)
	b.WriteString(`"`)
	if dash != "" {
		b.WriteString(` stroke-dasharray="`)
		b.WriteString(dash)
		b.WriteString(`"`)
	}
	b.WriteString(`/><path d="`)
	b.WriteString(marker(i, 18, 6, 3.5))
	b.WriteString(`" fill="`)
	b.WriteString(colour)
	b.WriteString(`"/></svg>`)
	return template.HTML(b.String())
}

// marker is the path of series i's marker centred on (x, y) with
// half-size r: a circle, square, triangle, diamond, down-triangle, plus
// or cross.
func marker(i int, x, y, r float64) string {
	var b []byte
	mv := func(c byte, px, py float64) {
		b = append(b, c)
		b = appendNum(b, px)
		b = append(b, ' ')
		b = appendNum(b, py)
	}
	switch i % 7 {
	case 0: // circle, as two arcs
		mv('M', x-r, y)
		b = append(b, 'a')
		b = appendNum(b, r)
		b = append(b, ' ')
		b = appendNum(b, r)
		b = append(b, " 0 1 0 "...)
		b = appendNum(b, 2*r)
		b = append(b, " 0a"...)
		b = appendNum(b, r)
		b = append(b, ' ')
		b = appendNum(b, r)
		b = append(b, " 0 1 0 "...)
		b = appendNum(b, -2*r)
		b = append(b, " 0z"...)
	case 1: // square
		r *= 0.9
		mv('M', x-r, y-r)
		mv('L', x+r, y-r)
		mv('L', x+r, y+r)
		mv('L', x-r, y+r)
		b = append(b, 'z')
	case 2: // triangle
		mv('M', x, y-r*1.2)
		mv('L', x+r*1.1, y+r*0.8)
		mv('L', x-r*1.1, y+r*0.8)
		b = append(b, 'z')
	case 3: // diamond
		mv('M', x, y-r*1.2)
		mv('L', x+r, y)
		mv('L', x, y+r*1.2)
		mv('L', x-r, y)
		b = append(b, 'z')
	case 4: // down-triangle
		mv('M', x, y+r*1.2)
		mv('L', x+r*1.1, y-r*0.8)
		mv('L', x-r*1.1, y-r*0.8)
		b = append(b, 'z')
	case 5: // plus, as a filled outline
		t := r * 0.4
		mv('M', x-t, y-r)
		mv('L', x+t, y-r)
		mv('L', x+t, y-t)
		mv('L', x+r, y-t)
		mv('L', x+r, y+t)
		mv('L', x+t, y+t)
		mv('L', x+t, y+r)
		mv('L', x-t, y+r)
		mv('L', x-t, y+t)
		mv('L', x-r, y+t)
		mv('L', x-r, y-t)
		mv('L', x-t, y-t)
		b = append(b, 'z')
	default: // square rotated into an hourglass-free "x" block
		mv('M', x-r, y-r*0.4)
		mv('L', x-r*0.4, y-r)
		mv('L', x+r, y+r*0.4)
		mv('L', x+r*0.4, y+r)
		b = append(b, 'z')
		mv('M', x+r, y-r*0.4)
		mv('L', x+r*0.4, y-r)
		mv('L', x-r, y+r*0.4)
		mv('L', x-r*0.4, y+r)
		b = append(b, 'z')
	}
	return string(b)
}

// appendNum appends v with at most one decimal, the precision of a
// viewBox coordinate worth writing.
func appendNum(b []byte, v float64) []byte {
	v = math.Round(v*10) / 10
	if v == math.Trunc(v) {
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, v, 'f', 1, 64)
}

// Bar is the bar of one row of a ranked breakdown: frac (0 to 1) of its
// track filled in series 0's colour. The row's number is written beside
// it in the page: the bar only shows proportion.
func Bar(frac float64) template.HTML {
	if math.IsNaN(frac) || frac < 0 {
		frac = 0
	}
	frac = min(frac, 1)
	var b []byte
	b = append(b, `<svg class="bar" viewBox="0 0 200 12" preserveAspectRatio="none" aria-hidden="true"><rect width="200" height="12" fill="#eef0f3"/><rect width="`...)
	b = appendNum(b, 200*frac)
	b = append(b, `" height="12" fill="`...)
	b = append(b, Palette[0]...)
	b = append(b, `"/></svg>`...)
	return template.HTML(b)
}

// WithheldBar stands in for the bar of a row whose value was withheld:
// an outlined, hatched track, so it cannot be read as a short bar.
func WithheldBar() template.HTML {
	return template.HTML(`<svg class="bar" viewBox="0 0 200 12" preserveAspectRatio="none" aria-hidden="true"><rect x=".5" y=".5" width="199" height="11" fill="none" stroke="#555" stroke-dasharray="3 2"/><path d="M0 12L12 0M20 12L32 0M40 12L52 0M60 12L72 0M80 12L92 0M100 12L112 0M120 12L132 0M140 12L152 0M160 12L172 0M180 12L192 0" stroke="#777"/></svg>`)
}

// Format writes v compactly for axes and labels: integers in full up to
// 9,999, then with a k/M/G suffix and three significant digits;
// fractions with up to three significant digits.
func Format(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	a := math.Abs(v)
	switch {
	case a >= 1e10:
		return trimZeros(strconv.FormatFloat(v/1e9, 'f', 0, 64)) + "G"
	case a >= 1e9:
		return trimZeros(strconv.FormatFloat(v/1e9, 'f', 2, 64)) + "G"
	case a >= 1e7:
		return trimZeros(strconv.FormatFloat(v/1e6, 'f', 0, 64)) + "M"
	case a >= 1e6:
		return trimZeros(strconv.FormatFloat(v/1e6, 'f', 2, 64)) + "M"
	case a >= 1e5:
		return trimZeros(strconv.FormatFloat(v/1e3, 'f', 0, 64)) + "k"
	case a >= 1e4:
		return trimZeros(strconv.FormatFloat(v/1e3, 'f', 1, 64)) + "k"
	case v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 1:
		return trimZeros(strconv.FormatFloat(v, 'f', 2, 64))
	}
	return trimZeros(strconv.FormatFloat(v, 'g', 3, 64))
}

func trimZeros(s string) string {
	if !strings.Contains(s, ".") || strings.ContainsAny(s, "eE") {
		return s
	}
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// niceCeil returns the y-axis top for a maximum of max and the step of
// its ticks: about four steps of 1, 2 or 5 times a power of ten.
func niceCeil(max float64) (top, step float64) {
	if !(max > 0) || math.IsInf(max, 0) {
		return 1, 0.25
	}
	raw := max / 4
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		step = m * p
		if step >= raw {
			break
		}
	}
	top = math.Ceil(max/step) * step
	return top, step
}
