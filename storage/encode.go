package storage

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The writer encodes each record's dimensions and measures to JSON itself:
// encoding/json's reflection was a third of the writer's CPU at 10k-row
// groups (BenchmarkWriter), on a machine where Go and PostgreSQL share two
// cores. Keys are sorted, so equal maps encode equally; the rollup
// pre-aggregation relies on that.

// appendDims appends dims as a JSON object. Values are string, bool or an
// integer (validateBatch checked). The map is read once: its entries are
// copied out and sorted by key, so no value is looked up by its key again.
func appendDims(dst []byte, dims map[string]any) ([]byte, error) {
	var eb [16]entry[any] // no allocation for the usual few keys
	es := sortedEntries(eb[:0], dims)
	dst = append(dst, '{')
	for i := range es {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, es[i].k)
		dst = append(dst, ':')
		switch v := es[i].v.(type) {
		case string:
			dst = appendJSONString(dst, v)
		case bool:
			dst = strconv.AppendBool(dst, v)
		case int64:
			dst = strconv.AppendInt(dst, v, 10)
		case int:
			dst = strconv.AppendInt(dst, int64(v), 10)
		case int32:
			dst = strconv.AppendInt(dst, int64(v), 10)
		default:
			return nil, fmt.Errorf("%w: dimension of type %T", ErrInvalidRecord, v)
		}
	}
	return append(dst, '}'), nil
}

// appendMeasures appends measures as a JSON object of finite numbers, and
// their names and values, sorted by name, to ms (for the rollups).
func appendMeasures(dst []byte, m map[string]float64, ms *measureSink) ([]byte, error) {
	var eb [16]entry[float64]
	es := sortedEntries(eb[:0], m)
	dst = append(dst, '{')
	for i := range es {
		k, v := es[i].k, es[i].v
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%w: non-finite measure", ErrInvalidRecord)
		}
		ms.names = append(ms.names, k)
		ms.vals = append(ms.vals, v)
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			// Integral: the same jsonb number, without the float
			// formatter's shortest-digits search.
			dst = strconv.AppendInt(dst, int64(v), 10)
		} else {
			dst = strconv.AppendFloat(dst, v, 'g', -1, 64)
		}
	}
	return append(dst, '}'), nil
}

// entry is one map entry, copied out to be sorted by key.
type entry[V any] struct {
	k string
	v V
}

// sortedEntries appends m's entries to es, sorted by key (bytewise, so
// equal maps encode equally; the rollup pre-aggregation relies on that).
func sortedEntries[V any](es []entry[V], m map[string]V) []entry[V] {
	start := len(es)
	for k, v := range m {
		es = append(es, entry[V]{k, v})
	}
	slices.SortFunc(es[start:], func(a, b entry[V]) int { return strings.Compare(a.k, b.k) })
	return es
}

// measureSink collects a group's measures, each row's sorted by name.
type measureSink struct {
	names []string
	vals  []float64
}

// copyHeader starts a binary COPY stream: the signature, no flags, no
// header extension (PostgreSQL's COPY documentation, "Binary Format").
const copyHeader = "PGCOPY\n\xff\r\n\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00"

// postgresEpochMicros is 2000-01-01T00:00:00Z in Unix microseconds, the
// zero of PostgreSQL's binary timestamptz.
const postgresEpochMicros = 946684800000000

// appendEventTuple appends r as one binary COPY tuple of the events
// columns (bucket, schema_name, schema_version, dims, measures) and
// returns the offsets of the dimensions' JSON inside dst.
func appendEventTuple(dst []byte, r *Record, ms *measureSink) ([]byte, [2]int, error) {
	dst = binary.BigEndian.AppendUint16(dst, 5)
	dst = binary.BigEndian.AppendUint32(dst, 8)
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.Bucket.UnixMicro()-postgresEpochMicros))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(r.Schema)))
	dst = append(dst, r.Schema...)
	dst = binary.BigEndian.AppendUint32(dst, 4)
	dst = binary.BigEndian.AppendUint32(dst, uint32(int32(r.Version)))
	// jsonb's binary form is a version byte (1) and the JSON text.
	lenAt := len(dst)
	dst = append(dst, 0, 0, 0, 0, 1)
	var err error
	if dst, err = appendDims(dst, r.Dimensions); err != nil {
		return nil, [2]int{}, err
	}
	dims := [2]int{lenAt + 5, len(dst)}
	binary.BigEndian.PutUint32(dst[lenAt:], uint32(len(dst)-lenAt-4))
	lenAt = len(dst)
	dst = append(dst, 0, 0, 0, 0, 1)
	if dst, err = appendMeasures(dst, r.Measures, ms); err != nil {
		return nil, [2]int{}, err
	}
	binary.BigEndian.PutUint32(dst[lenAt:], uint32(len(dst)-lenAt-4))
	return dst, dims, nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string (RFC 8259, section 7);
// invalid UTF-8 becomes U+FFFD, as encoding/json does. Runs of bytes that
// need no escaping (all of a typical name or value) are copied at once.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && jsonSafe[s[j]] {
			j++
		}
		dst = append(dst, s[i:j]...)
		if i = j; i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c == '"' || c == '\\' {
				dst = append(dst, '\\', c)
			} else { // a control character
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// jsonSafe marks the ASCII bytes a JSON string holds as they are.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendMeasureArrays appends a rollup's measure statistics as the
// PostgreSQL array literals stored in rollups.measure_names (names sorted
// bytewise) and rollups.measure_stats ([n, sum, min, max] per name, in
// that order). Values are finite (validateBatch checked the measures).
func appendMeasureArrays(names, stats []byte, mnames []string, mstats []measureStat) ([]byte, []byte) {
	names = append(names, '{')
	stats = append(stats, '{')
	for i, k := range mnames {
		s := &mstats[i]
		if i > 0 {
			names = append(names, ',')
			stats = append(stats, ',')
		}
		names = appendArrayString(names, k)
		stats = strconv.AppendInt(stats, s.n, 10)
		for _, v := range [3]float64{s.sum, s.min, s.max} {
			stats = append(stats, ',')
			stats = strconv.AppendFloat(stats, v, 'g', -1, 64)
		}
	}
	return append(names, '}'), append(stats, '}')
}

// appendArrayString appends s as a double-quoted element of a PostgreSQL
// array literal.
func appendArrayString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}
