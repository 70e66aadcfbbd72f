package bhttp

import "slices"

// MarshalOptions selects among the encodings RFC 9292 allows. The zero value
// is the conservative form that Marshal uses: known-length framing, no
// truncation, no padding. Some deployed peers decode only that form, so veil
// sends nothing else; the options exist for tests and for peers known to
// accept them.
type MarshalOptions struct {
	// Indeterminate selects indeterminate-length framing (indicators 2 and
	// 3, RFC 9292 §3.2), with content in a single chunk.
	Indeterminate bool
	// Truncate omits trailing empty sections: the trailer section if it is
	// empty, then the content if it is empty too, then the header section
	// (RFC 9292 §3.1, §3.2).
	Truncate bool
	// Padding is the number of zero bytes appended (RFC 9292 §3.8).
	Padding int
}

// sections reports how many of header, content and trailer are written.
func (o MarshalOptions) sections(header []Field, content []byte, trailer []Field) int {
	switch {
	case !o.Truncate || len(trailer) > 0:
		return 3
	case len(content) > 0:
		return 2
	case len(header) > 0:
		return 1
	}
	return 0
}

// bodySize validates header, content and trailer, and returns their encoded
// size with padding, and the field-line sizes of both sections.
func (o MarshalOptions) bodySize(header []Field, content []byte, trailer []Field) (size, h, t int, err error) {
	if o.Padding < 0 || o.Padding > MaxContentBytes {
		return 0, 0, 0, encodeError(secPadding, ErrTooLarge)
	}
	if h, err = fieldLinesLen(header, secHeader); err != nil {
		return 0, 0, 0, err
	}
	if t, err = fieldLinesLen(trailer, secTrailer); err != nil {
		return 0, 0, 0, err
	}
	c, err := contentLen(content, o.Indeterminate)
	if err != nil {
		return 0, 0, 0, err
	}
	n := o.sections(header, content, trailer)
	if n >= 1 {
		size += fieldSectionLen(h, o.Indeterminate)
	}
	if n >= 2 {
		size += c
	}
	if n >= 3 {
		size += fieldSectionLen(t, o.Indeterminate)
	}
	return size + o.Padding, h, t, nil
}

// appendBody appends validated header, content, trailer and padding.
func (o MarshalOptions) appendBody(dst []byte, header []Field, content []byte, trailer []Field, h, t int) []byte {
	n := o.sections(header, content, trailer)
	if n >= 1 {
		dst = appendFieldSection(dst, header, h, o.Indeterminate)
	}
	if n >= 2 {
		dst = appendContent(dst, content, o.Indeterminate)
	}
	if n >= 3 {
		dst = appendFieldSection(dst, trailer, t, o.Indeterminate)
	}
	return appendPadding(dst, o.Padding)
}

// grow makes room for n more bytes, allocating exactly once if needed.
func grow(dst []byte, n int) []byte {
	if dst == nil {
		return make([]byte, 0, n)
	}
	return slices.Grow(dst, n)
}
