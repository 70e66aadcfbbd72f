package schema

import (
	"encoding/json"
	"maps"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// detectorTriggers are, per detector (and for the normaliser), the
// characters that make it look closer, as short units. Repeated to a size,
// each is a value with a candidate start every few bytes: the shape of
// input that made hasSensitiveURL quadratic ("a://" repeated).
var detectorTriggers = map[string][]string{
	"hasSensitiveURL":    {"a://", "a://@", "a://?", "a://b/c#=", "://", "a:/"},
	"hasEmail":           {"a@", "@a.", "a@[", "\"@", "a@a.", ".@a", "a@[1", "a@a-"},
	"hasObfuscatedEmail": {" at ", "[at]", " dot ", "[ ", "(dot)", "[ at ", "a dot "},
	"hasJWT":             {"eyJ.", "eyJa.", "eyJ", ".eyJ"},
	"hasAuthScheme":      {"bearer ", "token%20", "Basic x", "bearer"},
	"hasAccessKey":       {"AKIA", "ghp_", "sk_live_", "xoxb-", "SG.", "AIza"},
	"hasMAC":             {"0a:", "0a-", "0a0a.", "0a "},
	"hasIPv6":            {"a:", "::", "1:", ":.", "::1/", "a:1"},
	"hasIPv4":            {"1.", "1.1.1.", "255.", "v1."},
	"hasDashedIPv4":      {"1-", "ip-1-1-1-", "-1.a", "1-1-1-1."},
	"hasHexIPv4":         {"0x", "0xC0A8014", "ip 0x"},
	"hasUUID":            {"a-", "aaaaaaaa-aaaa-"},
	"hasIBAN":            {"DE89", "DE89 ", "DE89-", "DE8"},
	"findCardOrIMEI":     {"4111 ", "1 1", "1-"},
	"hasSSN":             {"123-45-", "1 1 "},
	"hasPhone":           {"+1", "(1", "0", "00", "1.", "(1) ", "1/"},
	"hasCoordinates":     {"1.123,", "-1.1 ", " lon ", "1.1N "},
	"hasDMS":             {"1°1'", "1°1.1'1\"", "°"},
	"findSecretRun":      {"aB3", "a_", "Ab", "=a", "+/", "aB"},
	"normalize":          {"%41", "%25", "％", "１", "\u200b", "٣", "_1", "1_", "%2"},
}

// adversarialUnits are all of detectorTriggers' units, in a fixed order.
var adversarialUnits = func() []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(detectorTriggers)) {
		out = append(out, detectorTriggers[name]...)
	}
	return out
}()

// adversarial repeats unit to exactly n bytes (cutting the last copy).
func adversarial(unit string, n int) string {
	return strings.Repeat(unit, n/len(unit)+1)[:n]
}

// mixInput cycles through every unit: a value built from every detector's
// trigger characters, which opens every gate.
func mixInput(n int) string { return adversarial(strings.Join(adversarialUnits, ""), n) }

// minCost is the least time of runs calls of f(s): the calling thread's
// CPU time where the platform gives it (threadCPU), else wall time; and
// the minimum, since noise from a shared machine only adds time. (An
// explicit runtime.GC between runs made the figures no steadier and the
// test twice as slow.)
func minCost(f func(string), s string, runs int) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	clock := threadCPU
	if _, ok := threadCPU(); !ok {
		start := time.Now()
		clock = func() (time.Duration, bool) { return time.Since(start), true }
	}
	best := time.Duration(1<<63 - 1)
	for range runs {
		t0, _ := clock()
		f(s)
		t1, _ := clock()
		best = min(best, t1-t0)
	}
	return best
}

// Sizes and the limit of the linear-time test: 16× more input may cost at
// most 40× more time (linear work gives about 16×, quadratic 256×).
const (
	linearSmall      = 16 << 10
	linearLarge      = 256 << 10
	linearRatioLimit = 40
)

// costRatio is the cost of f on large over its cost on small, measured
// again with more runs while it looks superlinear, so one descheduled run
// does not fail the test.
func costRatio(f func(string), small, large string) (ratio float64, costSmall, costLarge time.Duration) {
	for attempt, runs := 0, 1; attempt < 4; attempt, runs = attempt+1, runs*3 {
		cs := minCost(f, small, 2*runs)
		cl := minCost(f, large, runs)
		cs = max(cs, time.Microsecond) // below this, the clock's resolution rather than the work
		ratio, costSmall, costLarge = float64(cl)/float64(cs), cs, cl
		if ratio <= linearRatioLimit {
			break
		}
	}
	return ratio, costSmall, costLarge
}

// TestDetectorsLinear times every detector of the table and the
// normaliser on a value built from every detector's trigger characters
// (mixInput) and on its own triggers repeated; and Detect — the detectors
// as they run in production, behind their gates and on the normalised
// form too — and the per-event check on every trigger unit; all at 16 KiB
// and 256 KiB. It fails when the larger costs more than linearRatioLimit
// times the smaller.
func TestDetectorsLinear(t *testing.T) {
	type timed struct {
		name   string
		f      func(string)
		inputs []string // units; "" is mixInput
	}
	everything := append([]string{""}, adversarialUnits...)
	var fs []timed
	for _, d := range detectors {
		units, ok := detectorTriggers[d.name]
		if !ok {
			t.Fatalf("detector %s has no units in detectorTriggers", d.name)
		}
		fs = append(fs, timed{d.name, func(s string) { sink, _ = d.find(s) }, append([]string{""}, units...)})
	}
	fs = append(fs,
		timed{"normalize", func(s string) { sink = normalize(s) }, append([]string{""}, detectorTriggers["normalize"]...)},
		timed{"Detect", func(s string) { sink, _ = Detect(s) }, everything})
	// A schema the linter refuses (free text, no length bound): Check still
	// reads at most MaxValueBytes of a value, declared or not.
	s, _, err := CompileLenient([]byte(`{"x-veil":{"name":"t.e","version":1},"type":"object","additionalProperties":false,
		"properties":{"text":{"type":"string","x-veil-role":"dimension"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	fs = append(fs,
		timed{"Check/declared", func(v string) { rejSink = s.Check(map[string]any{"text": v}) }, everything},
		timed{"Check/undeclared", func(v string) { rejSink = s.Check(map[string]any{"other": v}) }, everything})

	input := func(unit string, n int) string {
		if unit == "" {
			return mixInput(n)
		}
		return adversarial(unit, n)
	}
	var worst struct {
		ratio           float64
		fn, unit        string
		cost16, cost256 time.Duration
	}
	pairs := 0
	for _, tf := range fs {
		for _, unit := range tf.inputs {
			pairs++
			r, cs, cl := costRatio(tf.f, input(unit, linearSmall), input(unit, linearLarge))
			if r > worst.ratio {
				worst.ratio, worst.fn, worst.unit, worst.cost16, worst.cost256 = r, tf.name, unit, cs, cl
			}
			if r > linearRatioLimit {
				t.Errorf("%s on %q repeated (\"\" is every unit): 256 KiB costs %.0f× 16 KiB (%v, %v): not linear", tf.name, unit, r, cl, cs)
			}
		}
	}
	t.Logf("%d function × input pairs; largest ratio %.1f (%s on %q: %v at 16 KiB, %v at 256 KiB)",
		pairs, worst.ratio, worst.fn, worst.unit, worst.cost16, worst.cost256)
}

// TestCheckBoundsWork: a large value is refused without being read, in a
// declared field (too long for its property) and an undeclared one, so the
// cost of Check does not grow with the value at all.
func TestCheckBoundsWork(t *testing.T) {
	s := mustCompile(t, launchDoc)
	for _, c := range []struct {
		field, reason string
	}{{"note", ReasonFieldOutOfRange}, {"other", ReasonFieldUnknown}, {"cold_start_ms", ReasonFieldType}} {
		v := adversarial("a://", linearLarge)
		r := s.Check(map[string]any{"os": "ios", c.field: v})
		if r == nil || r.Reason != c.reason || r.Field != c.field {
			t.Errorf("%s: got %+v, want %s", c.field, r, c.reason)
		}
		// An identifier at the end of the long value is not what Check
		// answers: the detectors never read it.
		tail := v + " jane.doe@example.com"
		if r := s.Check(map[string]any{"os": "ios", c.field: tail}); r == nil || r.Reason != c.reason {
			t.Errorf("%s: a long value ending in an e-mail address got %+v, want %s (never scanned)", c.field, r, c.reason)
		}
		// Cost: reading the value would cost ~16× more at 256 KiB than at
		// 16 KiB; not reading it, ~1×. The limit sits between the two and
		// leaves room for the noise of microsecond timings under -race.
		check := func(v string) { rejSink = s.Check(map[string]any{"os": "ios", c.field: v}) }
		if ratio, cs, cl := costRatio(check, v[:linearSmall], v); ratio > 10 {
			t.Errorf("%s: Check's cost grows with an unread value: %v at 16 KiB, %v at 256 KiB", c.field, cs, cl)
		}
	}
	// A number written with thousands of digits is not parsed.
	r := s.Check(map[string]any{"os": "ios", "battery": json.Number("0." + strings.Repeat("9", linearSmall))})
	if r == nil || r.Reason != ReasonFieldOutOfRange || r.Field != "battery" {
		t.Errorf("long number: got %+v", r)
	}
}

// FuzzDetectCost reports units whose repetition makes Detect superlinear:
// the unit repeated to 64 KiB may cost at most linearRatioLimit times its
// repetition to 4 KiB, i.e. the cost per byte of the larger input may not
// be much above the smaller's. Seeds are adversarialUnits.
func FuzzDetectCost(f *testing.F) {
	for _, u := range adversarialUnits {
		f.Add(u)
	}
	f.Add(strings.Join(adversarialUnits, ""))
	detect := func(s string) { sink, _ = Detect(s) }
	f.Fuzz(func(t *testing.T, unit string) {
		if len(unit) == 0 || len(unit) > 256 {
			return
		}
		small, large := adversarial(unit, 4<<10), adversarial(unit, 64<<10)
		if r, cs, cl := costRatio(detect, small, large); r > linearRatioLimit {
			t.Errorf("unit %q: %.1f× the cost for 16× the bytes (%v at 4 KiB, %v at 64 KiB; %.1f ns/byte against %.1f)",
				unit, r, cs, cl, float64(cl)/float64(len(large)), float64(cs)/float64(len(small)))
		}
	})
}
