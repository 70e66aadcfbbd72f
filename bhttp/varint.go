package bhttp

// Variable-length integers, RFC 9000 §16. The two most significant bits of
// the first byte give the length of the encoding:
//
//	2MSB  Length  Usable Bits  Range
//	00    1       6            0-63
//	01    2       14           0-16383
//	10    4       30           0-1073741823
//	11    8       62           0-4611686018427387903
//
// Any length may encode any value it can hold (RFC 9000 §16 does not require
// the shortest form), so the decoder accepts all of them; the encoder always
// writes the shortest.

// maxVarint is the largest value a variable-length integer can hold.
const maxVarint = 1<<62 - 1

// parseVarint decodes the integer at the start of b. It returns n == 0 if b
// is too short.
func parseVarint(b []byte) (v uint64, n int) {
	if len(b) == 0 {
		return 0, 0
	}
	n = 1 << (b[0] >> 6)
	if len(b) < n {
		return 0, 0
	}
	v = uint64(b[0] & 0x3f)
	for _, c := range b[1:n] {
		v = v<<8 | uint64(c)
	}
	return v, n
}

// varintLen is the length of the shortest encoding of v (v <= maxVarint).
func varintLen(v uint64) int {
	switch {
	case v < 1<<6:
		return 1
	case v < 1<<14:
		return 2
	case v < 1<<30:
		return 4
	default:
		return 8
	}
}

// appendVarint appends the shortest encoding of v, which must not exceed
// maxVarint; every caller bounds v by a Max limit far below it.
func appendVarint(b []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(b, byte(v))
	case v < 1<<14:
		return append(b, 0x40|byte(v>>8), byte(v))
	case v < 1<<30:
		return append(b, 0x80|byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	default:
		return append(b, 0xc0|byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32),
			byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
}
