package bhttp

// Request is a Binary HTTP request. Authority is empty when the request
// carries none (RFC 9292 §3.4); a Host header field then names the target.
// Path includes the query string.
type Request struct {
	Method, Scheme, Authority, Path string
	Header                          []Field
	Content                         []byte
	Trailer                         []Field
}

// Requests, RFC 9292 §3.1, §3.2, §3.4:
//
//	Known-Length Request {
//	  Framing Indicator (i) = 0,
//	  Request Control Data (..),
//	  Known-Length Field Section (..),
//	  Known-Length Content (..),
//	  Known-Length Field Section (..),
//	  Padding (..),
//	}
//
//	Indeterminate-Length Request {
//	  Framing Indicator (i) = 2,
//	  Request Control Data (..),
//	  Indeterminate-Length Field Section (..),
//	  Indeterminate-Length Content (..),
//	  Indeterminate-Length Field Section (..),
//	  Padding (..),
//	}
//
//	Request Control Data {
//	  Method Length (i),
//	  Method (..),
//	  Scheme Length (i),
//	  Scheme (..),
//	  Authority Length (i),
//	  Authority (..),
//	  Path Length (i),
//	  Path (..),
//	}
//
// The message may end after the control data or after any complete section.

// UnmarshalRequest decodes a Binary HTTP request in either framing, with or
// without truncation and padding. Errors are *DecodeError values wrapping a
// sentinel error. The result does not alias b.
func UnmarshalRequest(b []byte) (*Request, error) {
	d := decoder{r: reader{b: b}}
	var scan Request
	if err := d.request(&scan); err != nil {
		return nil, err
	}
	d.startFill()
	req := new(Request)
	if err := d.request(req); err != nil {
		return nil, err
	}
	return req, nil
}

func (d *decoder) request(req *Request) error {
	indeterminate, err := d.framing(framingKnownRequest, framingIndeterminateRequest)
	if err != nil {
		return err
	}
	start := d.r.off
	var cd [4][]byte
	for i := range cd {
		off := d.r.off
		n, ok := d.r.varint()
		if !ok {
			return d.fail(secControl, off, ErrTruncated)
		}
		if n > MaxControlBytes {
			return d.fail(secControl, off, ErrTooLarge)
		}
		if cd[i], ok = d.r.bytes(n); !ok {
			return d.fail(secControl, off, ErrTruncated)
		}
	}
	if !d.fill && !validControl(cd[0], cd[1], cd[2], cd[3]) {
		return d.fail(secControl, start, ErrInvalidControlData)
	}
	req.Method = d.str(cd[0])
	req.Scheme = d.str(cd[1])
	req.Authority = d.str(cd[2])
	req.Path = d.str(cd[3])
	return d.body(indeterminate, &req.Header, &req.Content, &req.Trailer)
}

// validControl checks request control data against RFC 9113 §8.3.1, more
// strictly than RFC 9292 requires (see the package documentation).
func validControl[T string | []byte](method, scheme, authority, path T) bool {
	if len(method) == 0 || !allIn(method, classToken) {
		return false
	}
	if len(scheme) > 0 && (!isAlpha(scheme[0]) || !allIn(scheme, classScheme)) {
		return false
	}
	if !allIn(authority, classAuthority) || !allIn(path, classPath) {
		return false
	}
	if len(path) == 0 {
		return string(scheme) != "http" && string(scheme) != "https"
	}
	return path[0] == '/' || len(path) == 1 && path[0] == '*'
}

func isAlpha(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }

// Marshal encodes r in the conservative form: known-length framing, no
// truncation, no padding.
func (r *Request) Marshal() ([]byte, error) { return MarshalOptions{}.MarshalRequest(r) }

// AppendMarshal appends the encoding Marshal produces to dst. It does not
// allocate when dst has room. On error dst is returned unchanged.
func (r *Request) AppendMarshal(dst []byte) ([]byte, error) {
	return MarshalOptions{}.AppendRequest(dst, r)
}

// requestSize validates r and returns its encoded size under o.
func (o MarshalOptions) requestSize(r *Request) (size int, h, t int, err error) {
	for _, s := range [...]string{r.Method, r.Scheme, r.Authority, r.Path} {
		if len(s) > MaxControlBytes {
			return 0, 0, 0, encodeError(secControl, ErrTooLarge)
		}
		size += varintLen(uint64(len(s))) + len(s)
	}
	if !validControl(r.Method, r.Scheme, r.Authority, r.Path) {
		return 0, 0, 0, encodeError(secControl, ErrInvalidControlData)
	}
	n, h, t, err := o.bodySize(r.Header, r.Content, r.Trailer)
	if err != nil {
		return 0, 0, 0, err
	}
	return 1 + size + n, h, t, nil
}

// AppendRequest appends the encoding of r under o to dst. It does not
// allocate when dst has room. On error dst is returned unchanged.
func (o MarshalOptions) AppendRequest(dst []byte, r *Request) ([]byte, error) {
	size, h, t, err := o.requestSize(r)
	if err != nil {
		return dst, err
	}
	dst = grow(dst, size)
	if o.Indeterminate {
		dst = append(dst, framingIndeterminateRequest)
	} else {
		dst = append(dst, framingKnownRequest)
	}
	for _, s := range [...]string{r.Method, r.Scheme, r.Authority, r.Path} {
		dst = appendVarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	return o.appendBody(dst, r.Header, r.Content, r.Trailer, h, t), nil
}

// MarshalRequest encodes r under o.
func (o MarshalOptions) MarshalRequest(r *Request) ([]byte, error) {
	b, err := o.AppendRequest(nil, r)
	if err != nil {
		return nil, err
	}
	return b, nil
}
