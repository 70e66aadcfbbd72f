package release

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/dp"
)

// seededNoise draws exactly from a fixed-seed reader (reproducible
// figures), synchronously.
func seededNoise(seed uint64) Noise {
	var mu sync.Mutex
	rd := chacha(seed)
	return func(_ context.Context, b *big.Rat) (*big.Int, error) {
		mu.Lock()
		defer mu.Unlock()
		return dp.Laplace(rd, b)
	}
}

// readmeBucket is 10,000 events of the README's example in one bucket:
// os half and half, three app versions, log-normal cold starts around
// 420 ms.
func readmeBucket(bucket time.Time, seed uint64) ([]event, []int64) {
	ms := lognormal(10000, 420, 0.6, seed)
	versions := []string{"1.2", "1.3", "2.0"}
	out := make([]event, len(ms))
	for i, v := range ms {
		os := "ios"
		if i%2 == 1 {
			os = "android"
		}
		out[i] = event{bucket: bucket, dims: map[string]any{"os": os, "app_version": versions[i%3]},
			ms: map[string]int64{"cold_start_ms": v}}
	}
	return out, ms
}

// utility is the mean relative error of a final release's counts (the
// total and each os) and of the total's p50 and p99, over trials buckets
// of 10,000 events, at the schema's ε.
type utility struct {
	count, p50, p99 float64
}

func measureUtility(t *testing.T, epsilon string, trials int) utility {
	t.Helper()
	xveil := ""
	if epsilon != "" {
		xveil = `, "release": {"epsilon": ` + epsilon + `}`
	}
	r := newRig(t, seededNoise(uint64(len(epsilon))+1), xveil, true)
	var truth [][]int64
	for i := range trials {
		evs, ms := readmeBucket(hour0.Add(time.Duration(i)*time.Hour), uint64(i)+100)
		r.src.add(evs...)
		truth = append(truth, slices.Sorted(slices.Values(ms)))
	}
	// Every bucket closed and settled: the first query draws each final
	// release with the whole budget.
	r.clock.set(hour0.Add(time.Duration(trials)*time.Hour + DefaultGrace))
	to := hour0.Add(time.Duration(trials) * time.Hour)
	total := r.answer(t, nil, hour0, to, "hour")
	byOS := r.answer(t, []string{"os"}, hour0, to, "hour")
	if len(total.Groups) != trials || len(byOS.Groups) != 2*trials {
		t.Fatalf("%d and %d groups", len(total.Groups), len(byOS.Groups))
	}
	var u utility
	var counts int
	for i, g := range total.Groups {
		if g.Provisional {
			t.Fatal("not final")
		}
		u.count += math.Abs(float64(g.Count)-10000) / 10000
		counts++
		m := g.Measures["cold_start_ms"]
		want50 := float64(truth[i][len(truth[i])/2])
		want99 := float64(truth[i][len(truth[i])*99/100])
		if m.P50 == nil || m.P99 == nil {
			t.Fatalf("no percentiles: %s", mustJSON(t, g))
		}
		u.p50 += math.Abs(*m.P50-want50) / want50
		u.p99 += math.Abs(*m.P99-want99) / want99
	}
	for _, g := range byOS.Groups {
		u.count += math.Abs(float64(g.Count)-5000) / 5000
		counts++
	}
	u.count /= float64(counts)
	u.p50 /= float64(trials)
	u.p99 /= float64(trials)
	return u
}

// TestUtilityAtDefaults: the README example at 10,000 events per bucket,
// final releases at the default ε = 1. The bounds are several times the
// errors measured (counts 0.17%, p50 0.6%, p99 6%, on a fixed seed).
func TestUtilityAtDefaults(t *testing.T) {
	u := measureUtility(t, "", 8)
	t.Logf("ε=1: mean relative error: counts %.3f%%, p50 %.2f%%, p99 %.2f%%", 100*u.count, 100*u.p50, 100*u.p99)
	if u.count > 0.01 || u.p50 > 0.05 || u.p99 > 0.2 {
		t.Errorf("utility at the defaults: %+v", u)
	}
}

// TestUtilityFigures prints the figures of the closing note (go test -run
// UtilityFigures -v): the relative errors at ε = 0.5, 1, 4, and how many
// events a group needs for ±10% on its count at the default. More budget,
// less error.
func TestUtilityFigures(t *testing.T) {
	var us []utility
	for _, eps := range []string{"0.5", "1", "4"} {
		u := measureUtility(t, eps, 6)
		t.Logf("ε=%s: mean relative error: counts %.3f%%, p50 %.2f%%, p99 %.2f%%", eps, 100*u.count, 100*u.p50, 100*u.p99)
		us = append(us, u)
	}
	if !(us[0].count > us[1].count && us[1].count > us[2].count) {
		t.Errorf("count error does not fall with ε: %+v", us)
	}
	p, _ := NewPlan(readmeSchema(t, ""), true)
	for _, c := range []struct {
		what string
		eps  *big.Rat
	}{{"final release, no provisional before", p.Epsilon}, {"final release after 3 provisional", big.NewRat(1, 2)}, {"provisional release", p.ProvisionalEpsilon()}} {
		b, _ := p.ScalesFor(c.eps).Count.Float64()
		sd := math.Sqrt(laplaceVariance(fmt.Sprint(b)))
		t.Logf("%s: count noise scale %.1f, sd %.1f: ±10%% at 95%% needs %.0f events", c.what, b, sd, math.Ceil(1.96*sd/0.1))
	}
}
