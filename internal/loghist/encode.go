package loghist

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Encoding (version 1), all integers unsigned LEB128 varints
// (encoding/binary's Uvarint), at most 10 bytes each:
//
//	version  byte = 1
//	n        varint, number of non-empty buckets, ≤ 2·MaxIndex + 1
//	n times:
//	  gap    varint: the bucket's index minus the previous one's (the
//	         first: minus (−MaxIndex − 1)); ≥ 1, so indexes strictly rise
//	  count  varint ≥ 1
//
// The total of the counts must not overflow a uint64. Nothing may follow.
// Equal histograms encode equally (the canonical form: Decode accepts
// only what Append produces).
const (
	version1   = 1
	maxBuckets = 2*MaxIndex + 1
)

// Append appends h's encoding to dst.
func (h *Hist) Append(dst []byte) []byte {
	dst = append(dst, version1)
	idx := h.sortedIndexes()
	dst = binary.AppendUvarint(dst, uint64(len(idx)))
	prev := int64(-MaxIndex - 1)
	for _, i := range idx {
		dst = binary.AppendUvarint(dst, uint64(int64(i)-prev))
		dst = binary.AppendUvarint(dst, h.counts[i])
		prev = int64(i)
	}
	return dst
}

// Encode returns h's encoding.
func (h *Hist) Encode() []byte { return h.Append(nil) }

// Decode parses an encoding made by Append. It runs in time linear in
// len(b) and fails with ErrTruncated, ErrVersion or ErrMalformed.
func Decode(b []byte) (*Hist, error) {
	if len(b) == 0 {
		return nil, ErrTruncated
	}
	if b[0] != version1 {
		return nil, ErrVersion
	}
	b = b[1:]
	n, b, err := uvarint(b)
	if err != nil {
		return nil, err
	}
	// Each bucket takes at least two bytes: a count larger than what
	// remains cannot be honest, and bounds the map allocated below.
	if n > maxBuckets || n > uint64(len(b))/2 {
		return nil, fmt.Errorf("%w: %d buckets", ErrMalformed, n)
	}
	h := &Hist{}
	if n > 0 {
		h.counts = make(map[int32]uint64, n)
	}
	prev := int64(-MaxIndex - 1)
	for range n {
		var gap, c uint64
		if gap, b, err = uvarint(b); err != nil {
			return nil, err
		}
		if c, b, err = uvarint(b); err != nil {
			return nil, err
		}
		if gap == 0 || gap > 2*MaxIndex+1 {
			return nil, fmt.Errorf("%w: bucket gap %d", ErrMalformed, gap)
		}
		i := prev + int64(gap)
		if i > MaxIndex {
			return nil, fmt.Errorf("%w: bucket index out of range", ErrMalformed)
		}
		if c == 0 || h.total > math.MaxUint64-c {
			return nil, fmt.Errorf("%w: bucket count", ErrMalformed)
		}
		h.counts[int32(i)] = c
		h.total += c
		prev = i
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(b))
	}
	return h, nil
}

// uvarint reads one canonical varint (no redundant trailing zero groups,
// so every value has one encoding).
func uvarint(b []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	switch {
	case n == 0:
		return 0, nil, ErrTruncated
	case n < 0:
		return 0, nil, fmt.Errorf("%w: varint overflow", ErrMalformed)
	case n > 1 && b[n-1] == 0:
		return 0, nil, fmt.Errorf("%w: non-minimal varint", ErrMalformed)
	}
	return v, b[n:], nil
}
