package bhttp

// Response is a Binary HTTP response: any informational (1xx) responses,
// then the final one.
type Response struct {
	Informational []InformationalResponse
	StatusCode    int
	Header        []Field
	Content       []byte
	Trailer       []Field
}

// Responses, RFC 9292 §3.1, §3.2, §3.5:
//
//	Known-Length Response {
//	  Framing Indicator (i) = 1,
//	  Known-Length Informational Response (..) ...,
//	  Final Response Control Data (..),
//	  Known-Length Field Section (..),
//	  Known-Length Content (..),
//	  Known-Length Field Section (..),
//	  Padding (..),
//	}
//
//	Indeterminate-Length Response {
//	  Framing Indicator (i) = 3,
//	  Indeterminate-Length Informational Response (..) ...,
//	  Final Response Control Data (..),
//	  Indeterminate-Length Field Section (..),
//	  Indeterminate-Length Content (..),
//	  Indeterminate-Length Field Section (..),
//	  Padding (..),
//	}
//
//	Final Response Control Data {
//	  Status Code (i) = 200..599,
//	}
//
// The message may end after the final control data or after any complete
// section that follows it.

// UnmarshalResponse decodes a Binary HTTP response in either framing, with
// or without truncation and padding. Errors are *DecodeError values wrapping
// a sentinel error. The result does not alias b.
func UnmarshalResponse(b []byte) (*Response, error) {
	d := decoder{r: reader{b: b}}
	var scan Response
	if err := d.response(&scan); err != nil {
		return nil, err
	}
	d.startFill()
	resp := new(Response)
	if err := d.response(resp); err != nil {
		return nil, err
	}
	return resp, nil
}

func (d *decoder) response(resp *Response) error {
	indeterminate, err := d.framing(framingKnownResponse, framingIndeterminateResponse)
	if err != nil {
		return err
	}
	n := 0
	for {
		off := d.r.off
		status, ok := d.r.varint()
		if !ok {
			return d.fail(secControl, off, ErrTruncated)
		}
		if isFinal(status) {
			resp.StatusCode = int(status)
			break
		}
		if !isInformational(status) {
			return d.fail(secControl, off, ErrInvalidStatus)
		}
		if n == MaxInformationalResponses {
			return d.fail(secInformational, off, ErrTooLarge)
		}
		if err := d.informational(indeterminate, status, n); err != nil {
			return err
		}
		n++
	}
	if !d.fill {
		d.ninfo = n
	} else if n > 0 {
		resp.Informational = d.info[:n:n]
	}
	return d.body(indeterminate, &resp.Header, &resp.Content, &resp.Trailer)
}

// Marshal encodes r in the conservative form: known-length framing, no
// truncation, no padding.
func (r *Response) Marshal() ([]byte, error) { return MarshalOptions{}.MarshalResponse(r) }

// AppendMarshal appends the encoding Marshal produces to dst. It does not
// allocate when dst has room. On error dst is returned unchanged.
func (r *Response) AppendMarshal(dst []byte) ([]byte, error) {
	return MarshalOptions{}.AppendResponse(dst, r)
}

// AppendResponse appends the encoding of r under o to dst. It does not
// allocate when dst has room. On error dst is returned unchanged.
func (o MarshalOptions) AppendResponse(dst []byte, r *Response) ([]byte, error) {
	if !isFinal(r.StatusCode) {
		return dst, encodeError(secControl, ErrInvalidStatus)
	}
	info, err := o.informationalSize(r.Informational)
	if err != nil {
		return dst, err
	}
	body, h, t, err := o.bodySize(r.Header, r.Content, r.Trailer)
	if err != nil {
		return dst, err
	}
	dst = grow(dst, 1+info+varintLen(uint64(r.StatusCode))+body)
	if o.Indeterminate {
		dst = append(dst, framingIndeterminateResponse)
	} else {
		dst = append(dst, framingKnownResponse)
	}
	dst = o.appendInformational(dst, r.Informational)
	dst = appendVarint(dst, uint64(r.StatusCode))
	return o.appendBody(dst, r.Header, r.Content, r.Trailer, h, t), nil
}

// MarshalResponse encodes r under o.
func (o MarshalOptions) MarshalResponse(r *Response) ([]byte, error) {
	b, err := o.AppendResponse(nil, r)
	if err != nil {
		return nil, err
	}
	return b, nil
}
