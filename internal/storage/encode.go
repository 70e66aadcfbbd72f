package storage

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// The writer encodes each record's dimensions and measures to JSON itself:
// encoding/json's reflection was a third of the writer's CPU at 10k-row
// groups (BenchmarkWriter), on a machine where Go and PostgreSQL share two
// cores. Keys are sorted, so equal maps encode equally; the rollup
// pre-aggregation relies on that.

// appendDims appends dims as a JSON object. Values are string, bool or an
// integer. The map is read once: its entries are copied out and sorted by
// key, so no value is looked up by its key again.
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

// measureSink collects a request's measures, each row's sorted by name.
type measureSink struct {
	names []string
	vals  []float64
}

// eventRow is one event row, encoded once as a binary COPY tuple; the
// rollups use its dimensions' JSON from inside that tuple, and its
// measures sorted by name.
type eventRow struct {
	bucket   time.Time
	schema   string
	version  int32
	tuple    []byte
	dimsJSON []byte
	names    []string
	vals     []float64
}

// encoded is one request's records as binary COPY tuples, made by Submit
// and released when the request completes.
type encoded struct {
	buf  []byte // every row's tuple
	rows []eventRow
	ms   measureSink
}

var encodedPool = sync.Pool{New: func() any { return new(encoded) }}

// maxPooledBytes bounds the buffer an encoding keeps in the pool, so one
// large request does not pin its memory.
const maxPooledBytes = 1 << 20

// encodeBatch checks records (dimension types, finite measures) and
// encodes them.
func encodeBatch(records []Record) (*encoded, error) {
	e := encodedPool.Get().(*encoded)
	buf, rows, ms := e.buf[:0], slices.Grow(e.rows[:0], len(records)), &e.ms
	ms.names, ms.vals = ms.names[:0], ms.vals[:0]
	type offsets struct{ tuple, dims, meas [2]int }
	var ob [64]offsets
	offs := ob[:0]
	for i := range records {
		r := &records[i]
		var err error
		var dims [2]int
		start, mstart := len(buf), len(ms.names)
		if buf, dims, err = appendEventTuple(buf, r, ms); err != nil {
			e.buf = buf
			e.release()
			return nil, err
		}
		rows = append(rows, eventRow{bucket: r.Bucket.UTC(), schema: r.Schema, version: int32(r.Version)})
		offs = append(offs, offsets{tuple: [2]int{start, len(buf)}, dims: dims, meas: [2]int{mstart, len(ms.names)}})
	}
	// The buffers have stopped growing: point the rows into them.
	for i := range rows {
		o, r := &offs[i], &rows[i]
		r.tuple = buf[o.tuple[0]:o.tuple[1]:o.tuple[1]]
		r.dimsJSON = buf[o.dims[0]:o.dims[1]:o.dims[1]]
		r.names = ms.names[o.meas[0]:o.meas[1]:o.meas[1]]
		r.vals = ms.vals[o.meas[0]:o.meas[1]:o.meas[1]]
	}
	e.buf, e.rows = buf, rows
	return e, nil
}

// release returns e to the pool; nil is a no-op.
func (e *encoded) release() {
	if e == nil || cap(e.buf) > maxPooledBytes {
		return
	}
	clear(e.rows) // drop references to the records' strings
	clear(e.ms.names)
	e.rows, e.ms.names = e.rows[:0], e.ms.names[:0]
	encodedPool.Put(e)
}

// copyStream reads a binary COPY stream: the header, the rows' tuples in
// order, and the trailer, without first copying them into one buffer.
type copyStream struct {
	rows   []eventRow
	i, off int  // next row, and offset in it
	stage  int8 // 0: header, 1: rows, 2: trailer, 3: done
}

// copyTrailer ends a binary COPY stream: a tuple of -1 fields.
const copyTrailer = "\xff\xff"

func (c *copyStream) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		switch c.stage {
		case 0, 2:
			s := copyHeader
			if c.stage == 2 {
				s = copyTrailer
			}
			k := copy(p[n:], s[c.off:])
			n, c.off = n+k, c.off+k
			if c.off == len(s) {
				c.stage, c.off = c.stage+1, 0
			}
		case 1:
			if c.i == len(c.rows) {
				c.stage = 2
				continue
			}
			t := c.rows[c.i].tuple
			k := copy(p[n:], t[c.off:])
			n, c.off = n+k, c.off+k
			if c.off == len(t) {
				c.i, c.off = c.i+1, 0
			}
		default:
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		}
	}
	return n, nil
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
// that order). Values are finite (encodeBatch checked the measures).
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
