package bhttp

// Padding, RFC 9292 §3.8:
//
//	Padding (..)   any number of zero-valued bytes
//
// Non-zero padding makes a message invalid. Because zero bytes also read as
// empty sections or terminators, padding combines with truncation: a decoder
// simply parses zeros as empty sections until the message is complete.

func (d *decoder) padding() error {
	if d.fill {
		return nil // checked in the first pass
	}
	for i, c := range d.r.b[d.r.off:] {
		if c != 0 {
			return d.fail(secPadding, d.r.off+i, ErrInvalidPadding)
		}
	}
	d.r.off = len(d.r.b)
	return nil
}

// appendPadding appends n zero bytes.
func appendPadding(dst []byte, n int) []byte {
	for ; n > 0; n-- {
		dst = append(dst, 0)
	}
	return dst
}
