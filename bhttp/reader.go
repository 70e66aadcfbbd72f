package bhttp

// reader is a checked cursor over a message: every read is checked against
// what remains, and offsets stay absolute so errors can point into the
// message.
type reader struct {
	b   []byte // the message, or a prefix of it ending where a section ends
	off int
}

func (r *reader) empty() bool    { return r.off >= len(r.b) }
func (r *reader) remaining() int { return len(r.b) - r.off }

// varint reads a variable-length integer (RFC 9000 §16).
func (r *reader) varint() (uint64, bool) {
	v, n := parseVarint(r.b[r.off:])
	if n == 0 {
		return 0, false
	}
	r.off += n
	return v, true
}

// bytes reads n bytes, checking n against what remains first. The result
// aliases the message.
func (r *reader) bytes(n uint64) ([]byte, bool) {
	if n > uint64(r.remaining()) {
		return nil, false
	}
	p := r.b[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return p, true
}
