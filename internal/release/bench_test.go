package release

import (
	"context"
	"crypto/rand"
	"math/big"
	"syscall"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/dp"
	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
)

// BenchmarkFinalRelease measures one bucket's final release for a schema
// of 4 enum dimensions (5 values each) and 2 measures, default plan (the
// total and each dimension: 21 cells, 67 noise draws each with
// histograms), 10,000 events: reading the cells, drawing the noise
// (crypto/rand, synchronously, so the CPU is counted here), storing and
// charging the ledger. Reports CPU per release beside wall time.
func BenchmarkFinalRelease(b *testing.B) {
	s, err := schema.Compile([]byte(`{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "x-veil": {"name": "bench.four", "version": 1},
  "type": "object", "additionalProperties": false, "required": ["a", "b", "c", "d"],
  "properties": {
    "a": {"enum": ["a0", "a1", "a2", "a3", "a4"], "x-veil-role": "dimension"},
    "b": {"enum": ["b0", "b1", "b2", "b3", "b4"], "x-veil-role": "dimension"},
    "c": {"enum": ["c0", "c1", "c2", "c3", "c4"], "x-veil-role": "dimension"},
    "d": {"enum": ["d0", "d1", "d2", "d3", "d4"], "x-veil-role": "dimension"},
    "ms": {"type": "integer", "minimum": 0, "maximum": 600000, "x-veil-role": "measure"},
    "kb": {"type": "integer", "minimum": 0, "maximum": 10000, "x-veil-role": "measure"}
  }
}`))
	if err != nil {
		b.Fatal(err)
	}
	src := &fakeSource{hist: true, anyBucket: true}
	ms := lognormal(10000, 420, 0.6, 5)
	for i, v := range ms {
		src.add(event{dims: map[string]any{
			"a": []string{"a0", "a1", "a2", "a3", "a4"}[i%5], "b": []string{"b0", "b1", "b2", "b3", "b4"}[i/5%5],
			"c": []string{"c0", "c1", "c2", "c3", "c4"}[i/25%5], "d": []string{"d0", "d1", "d2", "d3", "d4"}[i/125%5],
		}, ms: map[string]int64{"ms": v, "kb": v % 10000}})
	}
	p, err := NewPlan(s, true)
	if err != nil {
		b.Fatal(err)
	}
	// Cells are computed once: the benchmark measures the release (what
	// the rollups' read costs is storage's to measure).
	cached := cachedSource{fakeSource: src, cells: map[string][]Cell{}}
	for _, g := range p.Groupings {
		cs, _ := src.Cells(context.Background(), "", 0, time.Time{}, g.Dims)
		cached.cells[g.Name()] = cs
	}
	db := storagetest.New(b)
	noise := func(_ context.Context, sc *big.Rat) (*big.Int, error) { return dp.Laplace(rand.Reader, sc) }
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start.Add(10000 * time.Hour)
	rel, err := New(Config{DB: db, Source: cached, Noise: noise, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		if _, err := rel.ensure(context.Background(), p, start.Add(time.Duration(i)*time.Hour), now); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(i)/1000, "cpu-ms/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type cachedSource struct {
	*fakeSource
	cells map[string][]Cell
}

func (c cachedSource) Cells(_ context.Context, _ string, _ int, _ time.Time, dims []string) ([]Cell, error) {
	return c.cells[groupingName(dims)], nil
}

// BenchmarkDraw is the noise alone of BenchmarkFinalRelease's release.
func BenchmarkDraw(b *testing.B) {
	p, _ := NewPlan(readmeSchema(b, ""), true)
	evs, _ := readmeBucket(hour0, 1)
	src := &fakeSource{hist: true}
	src.add(evs...)
	cells := map[string][]Cell{}
	for _, g := range p.Groupings {
		cells[g.Name()], _ = src.Cells(context.Background(), "", 0, hour0, g.Dims)
	}
	noise := func(_ context.Context, sc *big.Rat) (*big.Int, error) { return dp.Laplace(rand.Reader, sc) }
	for b.Loop() {
		if _, _, err := p.Draw(context.Background(), noise, big.NewRat(1, 1), cells, true); err != nil {
			b.Fatal(err)
		}
	}
}
