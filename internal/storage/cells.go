package storage

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/veil-telemetry/veil/internal/loghist"
)

// Rollup cells: the stored form of events (DESIGN.md data flow step 8).
// A cell is keyed by (hour, schema, version, full dimension set) and holds
// the event count and, per measure, the count of events that carried it,
// sum, min, max and a histogram (internal/loghist) for percentiles. A
// request's events are pre-aggregated into partial cells at Submit; the
// mixer merges partial cells into the stored ones.

type cellKey struct {
	hour    int64
	schema  string
	version int32
	dims    string // the dimension set as JSON, keys sorted (appendDims)
}

// cellMeasure is one measure of a cell.
type cellMeasure struct {
	n             int64
	sum, min, max float64
	hist          loghist.Hist
}

// rollupCell is a cell's content: names sorted bytewise, one measure each.
type rollupCell struct {
	count int64
	names []string
	ms    []*cellMeasure
}

// measure returns the measure named name, adding it when missing.
func (c *rollupCell) measure(name string) *cellMeasure {
	i, found := slices.BinarySearch(c.names, name)
	if !found {
		c.names = slices.Insert(c.names, i, name)
		c.ms = slices.Insert(c.ms, i, &cellMeasure{min: math.Inf(1), max: math.Inf(-1)})
	}
	return c.ms[i]
}

// addEvent counts one event with the given measures.
func (c *rollupCell) addEvent(m map[string]float64) {
	c.count++
	for name, v := range m {
		cm := c.measure(name)
		cm.n++
		cm.sum += v
		cm.min, cm.max = min(cm.min, v), max(cm.max, v)
		cm.hist.Add(v)
	}
}

// merge adds o to c.
func (c *rollupCell) merge(o *rollupCell) {
	c.count += o.count
	for i, name := range o.names {
		om, cm := o.ms[i], c.measure(name)
		cm.n += om.n
		cm.sum += om.sum
		cm.min, cm.max = min(cm.min, om.min), max(cm.max, om.max)
		cm.hist.Merge(&om.hist)
	}
}

// The payload of a staging row, before its binary encoding (payload.go).
type stagedPayload struct {
	// Closes is the Unix time at which the last bucket of the request's
	// events closes: a mix of fewer than k requests may happen then.
	Closes int64
	// Since is the interval the request was first staged in (kept when
	// the mixer carries it to a later interval), for the mix lag.
	Since    int64
	Cells    []stagedCell
	Outcomes []stagedOutcome
}

type stagedCell struct {
	Hour    int64
	Schema  string
	Version int32
	Dims    string
	Count   int64
	M       []stagedMeasure
}

type stagedMeasure struct {
	Name string
	N    int64
	Sum  float64
	Min  float64
	Max  float64
	Hist []byte
}

type stagedOutcome struct {
	Hour    int64
	Schema  string
	Version int32
	Outcome string
	Reason  string
	Count   int64
}

type outcomeKey struct {
	hour    int64
	schema  string
	version int32
	outcome string
	reason  string
}

// bucketEnd returns when r's bucket closes (see Record.BucketEnd).
func bucketEnd(r *Record) time.Time {
	if !r.BucketEnd.IsZero() {
		return r.BucketEnd
	}
	b := r.Bucket.UTC()
	if b.Equal(b.Truncate(24 * time.Hour)) {
		return b.Add(24 * time.Hour)
	}
	return b.Truncate(time.Hour).Add(time.Hour)
}

// encodePayload checks b's records and outcomes and encodes them as a
// staging payload; nil when there is nothing to stage. content reports
// whether it holds a rollup cell.
func encodePayload(b *Batch) (payload []byte, content bool, err error) {
	if len(b.Records) == 0 && len(b.Outcomes) == 0 {
		return nil, false, nil
	}
	var p stagedPayload
	cells := map[cellKey]*rollupCell{}
	var order []cellKey
	var buf []byte
	for i := range b.Records {
		r := &b.Records[i]
		if err := checkText(r.Schema); err != nil {
			return nil, false, err
		}
		if buf, err = appendDims(buf[:0], r.Dimensions); err != nil {
			return nil, false, err
		}
		for name, v := range r.Measures {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, false, fmt.Errorf("%w: non-finite measure", ErrInvalidRecord)
			}
			if err := checkText(name); err != nil {
				return nil, false, err
			}
		}
		k := cellKey{hour: r.Bucket.UTC().Truncate(time.Hour).Unix(), schema: r.Schema, version: int32(r.Version), dims: string(buf)}
		c := cells[k]
		if c == nil {
			c = &rollupCell{}
			cells[k] = c
			order = append(order, k)
		}
		c.addEvent(r.Measures)
		p.Closes = max(p.Closes, bucketEnd(r).Unix())
	}
	for _, k := range order {
		c := cells[k]
		cj := stagedCell{Hour: k.hour, Schema: k.schema, Version: k.version, Dims: k.dims, Count: c.count}
		for i, name := range c.names {
			m := c.ms[i]
			if math.IsInf(m.sum, 0) {
				return nil, false, fmt.Errorf("%w: measure sum overflows", ErrInvalidRecord)
			}
			cj.M = append(cj.M, stagedMeasure{Name: name, N: m.n, Sum: m.sum, Min: m.min, Max: m.max, Hist: m.hist.Encode()})
		}
		p.Cells = append(p.Cells, cj)
	}
	sums := map[outcomeKey]int64{}
	for _, o := range b.Outcomes {
		if o.Count == 0 {
			continue
		}
		if o.Count < 0 || (o.Outcome != "accepted" && o.Outcome != "rejected") {
			return nil, false, fmt.Errorf("%w: outcome count", ErrInvalidRecord)
		}
		if err := checkText(o.Schema); err != nil {
			return nil, false, err
		}
		if err := checkText(o.Reason); err != nil {
			return nil, false, err
		}
		sums[outcomeKey{o.Bucket.UTC().Truncate(time.Hour).Unix(), o.Schema, int32(o.Version), o.Outcome, o.Reason}] += o.Count
	}
	for k, n := range sums {
		p.Outcomes = append(p.Outcomes, stagedOutcome{k.hour, k.schema, k.version, k.outcome, k.reason, n})
	}
	if len(p.Cells) == 0 && len(p.Outcomes) == 0 {
		return nil, false, nil
	}
	out, err := marshalPayload(&p)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrInvalidRecord, err)
	}
	return out, len(p.Cells) > 0, nil
}

// marshalPayload encodes a payload in its binary form (payload.go).
func marshalPayload(p *stagedPayload) ([]byte, error) { return encodeBinaryPayload(p), nil }

// checkText refuses text PostgreSQL cannot store (NUL) or that is not
// UTF-8 (the mixer must never fail on a request's content).
func checkText(s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%w: NUL character", ErrInvalidRecord)
	}
	if !isUTF8(s) {
		return fmt.Errorf("%w: invalid UTF-8", ErrInvalidRecord)
	}
	return nil
}

// decodePayload parses a staging payload into cells (merged into cells)
// and outcome counts (added to outcomes).
func decodePayload(b []byte) (*stagedPayload, error) { return decodeBinaryPayload(b) }

// cellOf converts a payload cell.
func cellOf(cj *stagedCell) (cellKey, *rollupCell, error) {
	k := cellKey{hour: cj.Hour, schema: cj.Schema, version: cj.Version, dims: cj.Dims}
	c := &rollupCell{count: cj.Count}
	for _, m := range cj.M {
		h, err := loghist.Decode(m.Hist)
		if err != nil {
			return k, nil, fmt.Errorf("storage: staging payload: %w", err)
		}
		cm := &cellMeasure{n: m.N, sum: m.Sum, min: m.Min, max: m.Max}
		cm.hist.Merge(h)
		i, found := slices.BinarySearch(c.names, m.Name)
		if found {
			return k, nil, fmt.Errorf("storage: staging payload: measure twice")
		}
		c.names = slices.Insert(c.names, i, m.Name)
		c.ms = slices.Insert(c.ms, i, cm)
	}
	return k, c, nil
}

// Stored form of a cell's measures in rollups: measure_names (sorted
// bytewise), measure_stats ([n, sum, min, max] per name) and
// measure_hists (per name, a varint length and the histogram's encoding;
// empty for cells written before histograms existed).

// appendCellArrays appends c's names and stats as PostgreSQL array
// literals and its histograms in the measure_hists form.
func appendCellArrays(names, stats, hists []byte, c *rollupCell) ([]byte, []byte, []byte) {
	names = append(names, '{')
	stats = append(stats, '{')
	for i, k := range c.names {
		m := c.ms[i]
		if i > 0 {
			names = append(names, ',')
			stats = append(stats, ',')
		}
		names = appendArrayString(names, k)
		stats = strconv.AppendInt(stats, m.n, 10)
		for _, v := range [3]float64{m.sum, m.min, m.max} {
			stats = append(stats, ',')
			stats = appendFloatLiteral(stats, v)
		}
		enc := m.hist.Encode()
		hists = binary.AppendUvarint(hists, uint64(len(enc)))
		hists = append(hists, enc...)
	}
	return append(names, '}'), append(stats, '}'), hists
}

func appendFloatLiteral(dst []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(v, -1):
		return append(dst, "-Infinity"...)
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

// storedCell rebuilds a cell from its rollups columns. A cell stored
// before histograms existed gets empty histograms (their counts then fall
// short of n, and no percentile is computed from them).
func storedCell(count int64, names []string, stats []float64, hists []byte) (*rollupCell, error) {
	if len(stats) != 4*len(names) {
		return nil, fmt.Errorf("storage: rollup cell with %d names and %d statistics", len(names), len(stats))
	}
	hs, err := splitHists(hists, len(names))
	if err != nil {
		return nil, err
	}
	c := &rollupCell{count: count, names: names, ms: make([]*cellMeasure, len(names))}
	for i := range names {
		s := stats[4*i : 4*i+4]
		c.ms[i] = &cellMeasure{n: int64(s[0]), sum: s[1], min: s[2], max: s[3]}
		if hs != nil {
			c.ms[i].hist.Merge(hs[i])
		}
	}
	return c, nil
}

// splitHists parses measure_hists into n histograms; nil when empty.
func splitHists(b []byte, n int) ([]*loghist.Hist, error) {
	if len(b) == 0 {
		return nil, nil
	}
	out := make([]*loghist.Hist, n)
	for i := range n {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, fmt.Errorf("storage: malformed measure_hists")
		}
		h, err := loghist.Decode(b[k : k+int(l)])
		if err != nil {
			return nil, err
		}
		out[i] = h
		b = b[k+int(l):]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("storage: malformed measure_hists")
	}
	return out, nil
}
