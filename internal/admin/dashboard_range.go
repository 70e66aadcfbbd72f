package admin

import (
	"fmt"
	"net/url"
	"time"
)

// viewRange is the time range of a dashboard page: the buckets [From, To)
// of Step each, aligned to UTC bucket boundaries. It lives in the URL
// (range=24h|7d|30d, or range=custom&from=…&to=…), so a view can be
// bookmarked, shared and reached with the back button.
type viewRange struct {
	Name     string // "24h", "7d", "30d" or "custom"
	From, To time.Time
	Bucket   string // "hour" or "day"
	Step     time.Duration
	Buckets  int
}

// presetRanges are the ranges offered as links, in order.
var presetRanges = []struct {
	name, label string
	span        time.Duration
}{
	{"24h", "Last 24 hours", 24 * time.Hour},
	{"7d", "Last 7 days", 7 * 24 * time.Hour},
	{"30d", "Last 30 days", 30 * 24 * time.Hour},
}

// defaultRange is the range of a page whose URL names none.
const defaultRange = "24h"

// customTimeLayouts are the forms a custom from/to may take, read as UTC:
// what <input type="datetime-local"> sends, with or without seconds, and
// a bare date.
var customTimeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02"}

// rangeError is a range the URL asked for that cannot be shown; the page
// shows the default range and says why.
type rangeError struct{ msg string }

func (e *rangeError) Error() string { return e.msg }

// parseRange reads the range of q at now. granularity is the finest bucket
// of the data ("hour" or "day"); maxHours is the longest span shown in
// hour buckets: past it, buckets are days. Ranges end at the end of the
// bucket holding now (presets) or at the bucket boundary at or after
// `to` (custom). A bad custom range returns the default range and a
// *rangeError.
func parseRange(q url.Values, now time.Time, granularity string, maxHours time.Duration) (viewRange, error) {
	now = now.UTC()
	name := q.Get("range")
	if name == "" {
		name = defaultRange
	}
	if name == "custom" {
		r, err := customRange(q.Get("from"), q.Get("to"), granularity, maxHours)
		if err == nil {
			return r, nil
		}
		d, _ := parseRange(url.Values{}, now, granularity, maxHours)
		return d, err
	}
	for _, p := range presetRanges {
		if p.name != name {
			continue
		}
		bucket := bucketFor(p.span, granularity, maxHours)
		end := ceilBucket(now.Add(time.Nanosecond), bucket)
		return makeRange(name, end.Add(-p.span), end, bucket), nil
	}
	d, _ := parseRange(url.Values{}, now, granularity, maxHours)
	return d, &rangeError{fmt.Sprintf("unknown range %q: showing the last 24 hours", name)}
}

func customRange(fromS, toS, granularity string, maxHours time.Duration) (viewRange, error) {
	from, err1 := parseCustomTime(fromS)
	to, err2 := parseCustomTime(toS)
	if err1 != nil || err2 != nil {
		return viewRange{}, &rangeError{"a custom range needs from and to as YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)"}
	}
	if !from.Before(to) {
		return viewRange{}, &rangeError{"from must be before to"}
	}
	if to.Sub(from) > maxQuerySpan {
		return viewRange{}, &rangeError{"a range may span at most 366 days"}
	}
	bucket := bucketFor(to.Sub(from), granularity, maxHours)
	from = from.Truncate(bucketStep(bucket))
	to = ceilBucket(to, bucket)
	if to.Sub(from) > maxQuerySpan {
		return viewRange{}, &rangeError{"a range may span at most 366 days"}
	}
	return makeRange("custom", from, to, bucket), nil
}

func parseCustomTime(s string) (time.Time, error) {
	for _, l := range customTimeLayouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad time %q", s)
}

// bucketFor picks hour buckets for data of hourly granularity over spans
// up to maxHours, else day buckets.
func bucketFor(span time.Duration, granularity string, maxHours time.Duration) string {
	if granularity == "day" || span > maxHours {
		return "day"
	}
	return "hour"
}

func bucketStep(bucket string) time.Duration {
	if bucket == "day" {
		return 24 * time.Hour
	}
	return time.Hour
}

// ceilBucket is the first bucket boundary at or after t (UTC; a day is
// 24 hours from the Unix epoch, which is midnight UTC).
func ceilBucket(t time.Time, bucket string) time.Time {
	step := bucketStep(bucket)
	f := t.Truncate(step)
	if f.Equal(t) {
		return f
	}
	return f.Add(step)
}

func makeRange(name string, from, to time.Time, bucket string) viewRange {
	step := bucketStep(bucket)
	return viewRange{Name: name, From: from, To: to, Bucket: bucket, Step: step, Buckets: int(to.Sub(from) / step)}
}

// slot is the index of the bucket holding t, or -1 outside the range.
func (r viewRange) slot(t time.Time) int {
	if t.Before(r.From) || !t.Before(r.To) {
		return -1
	}
	return int(t.Sub(r.From) / r.Step)
}

// Label describes the range for headings.
func (r viewRange) Label() string {
	for _, p := range presetRanges {
		if p.name == r.Name {
			return p.label
		}
	}
	layout := "2006-01-02 15:04"
	if r.Bucket == "day" {
		layout = "2006-01-02"
		return r.From.Format(layout) + " to " + r.To.Add(-time.Nanosecond).Format(layout) + " (UTC)"
	}
	return r.From.Format(layout) + " to " + r.To.Format(layout) + " UTC"
}

// query is the range's URL parameters.
func (r viewRange) query(v url.Values) {
	v.Set("range", r.Name)
	if r.Name == "custom" {
		v.Set("from", r.From.Format("2006-01-02T15:04"))
		v.Set("to", r.To.Format("2006-01-02T15:04"))
	}
}
