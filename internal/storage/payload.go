package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The staging payload's binary form (sealed as a whole, staging.go), all
// integers unsigned LEB128 varints unless said otherwise:
//
//	version   byte = 2
//	closes    varint (Unix seconds)
//	since     varint (interval id; 0: not yet carried)
//	nstr      varint; nstr × (len varint, bytes): the string table
//	ncells    varint; per cell:
//	  hour varint, schema str, version zigzag varint, dims str, count varint,
//	  nmeasures varint; per measure:
//	    name str, n varint, sum, min, max (float64, 8 bytes big endian each),
//	    hist (len varint, loghist encoding)
//	noutcomes varint; per outcome:
//	  hour varint, schema str, version zigzag varint, outcome str,
//	  reason str, count varint
//
// where str is an index into the string table. Names, schemas and
// dimension sets repeat cell after cell; the table holds each once, so a
// 50-event request takes a few hundred bytes to a few kilobytes. Nothing
// may follow. decodePayload checks every length against what remains.
const payloadVersion = 2

// errPayload is the one error of a malformed payload (it never quotes it).
var errPayload = errors.New("storage: malformed staging payload")

func encodeBinaryPayload(p *stagedPayload) []byte {
	idx := map[string]uint64{}
	var table []string
	str := func(s string) uint64 {
		i, ok := idx[s]
		if !ok {
			i = uint64(len(table))
			idx[s] = i
			table = append(table, s)
		}
		return i
	}
	// Body first (it fills the table), then the header and table.
	var body []byte
	body = binary.AppendUvarint(body, uint64(len(p.Cells)))
	for i := range p.Cells {
		c := &p.Cells[i]
		body = binary.AppendUvarint(body, uint64(c.Hour))
		body = binary.AppendUvarint(body, str(c.Schema))
		body = binary.AppendVarint(body, int64(c.Version))
		body = binary.AppendUvarint(body, str(c.Dims))
		body = binary.AppendUvarint(body, uint64(c.Count))
		body = binary.AppendUvarint(body, uint64(len(c.M)))
		for j := range c.M {
			m := &c.M[j]
			body = binary.AppendUvarint(body, str(m.Name))
			body = binary.AppendUvarint(body, uint64(m.N))
			for _, f := range [3]float64{m.Sum, m.Min, m.Max} {
				body = binary.BigEndian.AppendUint64(body, math.Float64bits(f))
			}
			body = binary.AppendUvarint(body, uint64(len(m.Hist)))
			body = append(body, m.Hist...)
		}
	}
	body = binary.AppendUvarint(body, uint64(len(p.Outcomes)))
	for _, o := range p.Outcomes {
		body = binary.AppendUvarint(body, uint64(o.Hour))
		body = binary.AppendUvarint(body, str(o.Schema))
		body = binary.AppendVarint(body, int64(o.Version))
		body = binary.AppendUvarint(body, str(o.Outcome))
		body = binary.AppendUvarint(body, str(o.Reason))
		body = binary.AppendUvarint(body, uint64(o.Count))
	}
	out := make([]byte, 0, len(body)+64+16*len(table))
	out = append(out, payloadVersion)
	out = binary.AppendUvarint(out, uint64(p.Closes))
	out = binary.AppendUvarint(out, uint64(p.Since))
	out = binary.AppendUvarint(out, uint64(len(table)))
	for _, s := range table {
		out = binary.AppendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	return append(out, body...)
}

// payloadReader reads a payload with checked reads.
type payloadReader struct {
	b   []byte
	err error
}

func (r *payloadReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errPayload
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *payloadReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errPayload
		return 0
	}
	r.b = r.b[n:]
	return v
}

// int63 reads a varint that must fit an int64 without its sign.
func (r *payloadReader) int63() int64 {
	v := r.uvarint()
	if v > math.MaxInt64 {
		r.err = errPayload
		return 0
	}
	return int64(v)
}

func (r *payloadReader) int32() int32 {
	v := r.varint()
	if v < math.MinInt32 || v > math.MaxInt32 {
		r.err = errPayload
		return 0
	}
	return int32(v)
}

func (r *payloadReader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errPayload
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

// count reads a number of items each taking at least min bytes, so a
// count larger than what remains fails before anything is allocated.
func (r *payloadReader) count(min int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)/min) {
		r.err = errPayload
		return 0
	}
	return int(n)
}

func (r *payloadReader) float() float64 {
	b := r.bytes(8)
	if b == nil {
		return 0
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b))
}

func decodeBinaryPayload(b []byte) (*stagedPayload, error) {
	if len(b) == 0 || b[0] != payloadVersion {
		return nil, errPayload
	}
	r := &payloadReader{b: b[1:]}
	p := &stagedPayload{Closes: r.int63(), Since: r.int63()}
	table := make([]string, r.count(1))
	for i := range table {
		table[i] = string(r.bytes(r.uvarint()))
	}
	str := func() string {
		i := r.uvarint()
		if r.err == nil && i >= uint64(len(table)) {
			r.err = errPayload
		}
		if r.err != nil {
			return ""
		}
		return table[i]
	}
	if n := r.count(6); r.err == nil {
		p.Cells = make([]stagedCell, n)
	}
	for i := range p.Cells {
		c := &p.Cells[i]
		c.Hour, c.Schema, c.Version, c.Dims, c.Count = r.int63(), str(), r.int32(), str(), r.int63()
		if n := r.count(27); r.err == nil && n > 0 {
			c.M = make([]stagedMeasure, n)
		}
		for j := range c.M {
			m := &c.M[j]
			m.Name, m.N = str(), r.int63()
			m.Sum, m.Min, m.Max = r.float(), r.float(), r.float()
			m.Hist = r.bytes(r.uvarint())
		}
		if r.err != nil {
			return nil, r.err
		}
	}
	if n := r.count(6); r.err == nil && n > 0 {
		p.Outcomes = make([]stagedOutcome, n)
	}
	for i := range p.Outcomes {
		o := &p.Outcomes[i]
		o.Hour, o.Schema, o.Version, o.Outcome, o.Reason, o.Count = r.int63(), str(), r.int32(), str(), str(), r.int63()
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = errPayload
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w", r.err)
	}
	return p, nil
}
