package bhttp

// Field is one field line of a header or trailer section. Fields keep their
// order, and a name may repeat (RFC 9110 §5.2).
//
// Name may use any case when encoding; it is lowercased on the wire. Decoded
// names are lowercase.
type Field struct {
	Name, Value string
}

// Field sections, RFC 9292 §3.1, §3.2, §3.6:
//
//	Known-Length Field Section {
//	  Length (i),
//	  Field Line (..) ...,
//	}
//
//	Indeterminate-Length Field Section {
//	  Field Line (..) ...,
//	  Content Terminator (i) = 0,
//	}
//
//	Field Line {
//	  Name Length (i) = 1..,
//	  Name (..),
//	  Value Length (i),
//	  Value (..),
//	}

// fieldSection decodes a header or trailer section. The section counts
// against MaxFieldSectionBytes by the encoded size of its field lines.
func (d *decoder) fieldSection(indeterminate bool, sec string) ([]Field, error) {
	start := d.fi
	if indeterminate {
		begin := d.r.off
		for count := 0; ; count++ {
			off := d.r.off
			nameLen, ok := d.r.varint()
			if !ok {
				return nil, d.fail(sec, off, ErrTruncated)
			}
			if nameLen == 0 {
				break
			}
			if count == MaxFields {
				return nil, d.fail(sec, off, ErrTooLarge)
			}
			if err := d.fieldLine(&d.r, nameLen, sec, off); err != nil {
				return nil, err
			}
			if d.r.off-begin > MaxFieldSectionBytes {
				return nil, d.fail(sec, off, ErrTooLarge)
			}
		}
	} else {
		off := d.r.off
		n, ok := d.r.varint()
		switch {
		case !ok:
			return nil, d.fail(sec, off, ErrTruncated)
		case n > MaxFieldSectionBytes:
			return nil, d.fail(sec, off, ErrTooLarge)
		case n > uint64(d.r.remaining()):
			return nil, d.fail(sec, off, ErrTruncated)
		}
		end := d.r.off + int(n)
		sub := reader{b: d.r.b[:end], off: d.r.off}
		for count := 0; !sub.empty(); count++ {
			off := sub.off
			if count == MaxFields {
				return nil, d.fail(sec, off, ErrTooLarge)
			}
			nameLen, ok := sub.varint()
			if !ok {
				return nil, d.fail(sec, off, ErrTruncated)
			}
			if nameLen == 0 {
				// Only indeterminate-length sections use a zero name
				// length, as their terminator.
				return nil, d.fail(sec, off, ErrInvalidField)
			}
			if err := d.fieldLine(&sub, nameLen, sec, off); err != nil {
				return nil, err
			}
		}
		d.r.off = end
	}
	if !d.fill || d.fi == start {
		return nil, nil
	}
	return d.fields[start:d.fi:d.fi], nil
}

// fieldLine decodes the rest of a field line whose name length was read.
func (d *decoder) fieldLine(r *reader, nameLen uint64, sec string, off int) error {
	name, ok := r.bytes(nameLen)
	if !ok {
		return d.fail(sec, off, ErrTruncated)
	}
	valueLen, ok := r.varint()
	if !ok {
		return d.fail(sec, off, ErrTruncated)
	}
	value, ok := r.bytes(valueLen)
	if !ok {
		return d.fail(sec, off, ErrTruncated)
	}
	if !d.fill {
		if !validWireName(name) || !validValue(value) {
			return d.fail(sec, off, ErrInvalidField)
		}
		d.nfields++
		d.nstr += len(name) + len(value)
		return nil
	}
	d.fields[d.fi] = Field{Name: d.str(name), Value: d.str(value)}
	d.fi++
	return nil
}

// Character classes.
const (
	classToken     = 1 << iota // tchar, RFC 9110 §5.6.2
	classLowerName             // tchar other than uppercase, RFC 9113 §8.2.1
	classBadValue              // NUL, CR, LF: RFC 9113 §8.2.1
	classScheme                // RFC 3986 §3.1 after the first letter
	classAuthority             // RFC 3986 host and port: unreserved, pct, sub-delims, ":", "[", "]"
	classPath                  // visible ASCII except "#"
)

var charClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		alpha := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
		digit := '0' <= b && b <= '9'
		if alpha || digit || b != 0 && containsByte("!#$%&'*+-.^_`|~", b) {
			t[c] |= classToken
			if !('A' <= b && b <= 'Z') {
				t[c] |= classLowerName
			}
		}
		if b == 0 || b == '\r' || b == '\n' {
			t[c] |= classBadValue
		}
		if alpha || digit || b == '+' || b == '-' || b == '.' {
			t[c] |= classScheme
		}
		if alpha || digit || b != 0 && containsByte("-._~%!$&'()*+,;=:[]", b) {
			t[c] |= classAuthority
		}
		if 0x21 <= b && b <= 0x7e && b != '#' {
			t[c] |= classPath
		}
	}
	return t
}()

func containsByte(s string, b byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return true
		}
	}
	return false
}

func allIn[T string | []byte](s T, class uint8) bool {
	for i := 0; i < len(s); i++ {
		if charClass[s[i]]&class == 0 {
			return false
		}
	}
	return true
}

// validWireName reports whether a decoded name is a lowercase token.
func validWireName(name []byte) bool { return len(name) > 0 && allIn(name, classLowerName) }

// validName reports whether a name to encode is a token (any case).
func validName(name string) bool { return len(name) > 0 && allIn(name, classToken) }

// validValue applies RFC 9113 §8.2.1: no NUL, CR or LF, and no leading or
// trailing space or tab.
func validValue[T string | []byte](v T) bool {
	if len(v) == 0 {
		return true
	}
	if isSpace(v[0]) || isSpace(v[len(v)-1]) {
		return false
	}
	for i := 0; i < len(v); i++ {
		if charClass[v[i]]&classBadValue != 0 {
			return false
		}
	}
	return true
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' }

// fieldLinesLen validates fields for encoding and returns the encoded size
// of their field lines.
func fieldLinesLen(fields []Field, sec string) (int, error) {
	if len(fields) > MaxFields {
		return 0, encodeError(sec, ErrTooLarge)
	}
	n := 0
	for _, f := range fields {
		if !validName(f.Name) || !validValue(f.Value) {
			return 0, encodeError(sec, ErrInvalidField)
		}
		n += varintLen(uint64(len(f.Name))) + len(f.Name) + varintLen(uint64(len(f.Value))) + len(f.Value)
		if n > MaxFieldSectionBytes {
			return 0, encodeError(sec, ErrTooLarge)
		}
	}
	return n, nil
}

// fieldSectionLen is the encoded size of a section whose field lines take
// lines bytes.
func fieldSectionLen(lines int, indeterminate bool) int {
	if indeterminate {
		return lines + 1
	}
	return varintLen(uint64(lines)) + lines
}

// appendFieldSection appends a validated section whose field lines take
// lines bytes, lowercasing names.
func appendFieldSection(dst []byte, fields []Field, lines int, indeterminate bool) []byte {
	if !indeterminate {
		dst = appendVarint(dst, uint64(lines))
	}
	for _, f := range fields {
		dst = appendVarint(dst, uint64(len(f.Name)))
		start := len(dst)
		dst = append(dst, f.Name...)
		for i := start; i < len(dst); i++ {
			if c := dst[i]; 'A' <= c && c <= 'Z' {
				dst[i] = c + ('a' - 'A')
			}
		}
		dst = appendVarint(dst, uint64(len(f.Value)))
		dst = append(dst, f.Value...)
	}
	if indeterminate {
		dst = append(dst, 0)
	}
	return dst
}
