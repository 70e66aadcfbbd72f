package bhttp

// Content, RFC 9292 §3.1, §3.2, §3.7:
//
//	Known-Length Content {
//	  Content Length (i),
//	  Content (..),
//	}
//
//	Indeterminate-Length Content {
//	  Indeterminate-Length Content Chunk (..) ...,
//	  Content Terminator (i) = 0,
//	}
//
//	Indeterminate-Length Content Chunk {
//	  Chunk Length (i) = 1..,
//	  Chunk (..),
//	}
//
// Chunk boundaries carry no meaning; decoded content is their concatenation.

func (d *decoder) contentSection(indeterminate bool) ([]byte, error) {
	if !indeterminate {
		off := d.r.off
		n, ok := d.r.varint()
		if !ok {
			return nil, d.fail(secContent, off, ErrTruncated)
		}
		if n > MaxContentBytes {
			return nil, d.fail(secContent, off, ErrTooLarge)
		}
		p, ok := d.r.bytes(n)
		if !ok {
			return nil, d.fail(secContent, off, ErrTruncated)
		}
		if !d.fill {
			d.ncontent = len(p)
			return nil, nil
		}
		if len(p) == 0 {
			return nil, nil
		}
		c := make([]byte, len(p))
		copy(c, p)
		return c, nil
	}

	var c []byte
	if d.fill && d.ncontent > 0 {
		c = make([]byte, 0, d.ncontent)
	}
	total := 0
	for {
		off := d.r.off
		n, ok := d.r.varint()
		if !ok {
			// Ending after a chunk, before the terminator, is not a
			// permitted truncation point (RFC 9292 §3.2).
			return nil, d.fail(secContent, off, ErrTruncated)
		}
		if n == 0 {
			break
		}
		if n > uint64(MaxContentBytes-total) {
			return nil, d.fail(secContent, off, ErrTooLarge)
		}
		p, ok := d.r.bytes(n)
		if !ok {
			return nil, d.fail(secContent, off, ErrTruncated)
		}
		total += len(p)
		if d.fill {
			c = append(c, p...)
		}
	}
	if !d.fill {
		d.ncontent = total
	}
	return c, nil
}

// contentLen validates content for encoding and returns its encoded size.
func contentLen(c []byte, indeterminate bool) (int, error) {
	if len(c) > MaxContentBytes {
		return 0, encodeError(secContent, ErrTooLarge)
	}
	if indeterminate && len(c) == 0 {
		return 1, nil
	}
	return varintLen(uint64(len(c))) + len(c) + btoi(indeterminate), nil
}

// appendContent writes the content; indeterminate framing uses one chunk.
func appendContent(dst, c []byte, indeterminate bool) []byte {
	if !indeterminate || len(c) > 0 {
		dst = appendVarint(dst, uint64(len(c)))
		dst = append(dst, c...)
	}
	if indeterminate {
		dst = append(dst, 0)
	}
	return dst
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
