package bhttp

// Framing Indicator, RFC 9292 §3.3:
//
//	Framing Indicator (i) = 0..3
//
//	0  known-length request        2  indeterminate-length request
//	1  known-length response       3  indeterminate-length response
const (
	framingKnownRequest          = 0
	framingKnownResponse         = 1
	framingIndeterminateRequest  = 2
	framingIndeterminateResponse = 3
)

// framing reads the framing indicator and reports whether it selects
// indeterminate-length framing. known and indeterminate are the two values
// acceptable for the kind of message being decoded.
func (d *decoder) framing(known, indeterminate uint64) (bool, error) {
	v, ok := d.r.varint()
	switch {
	case !ok:
		return false, d.fail(secFraming, 0, ErrTruncated)
	case v == known:
		return false, nil
	case v == indeterminate:
		return true, nil
	default:
		return false, d.fail(secFraming, 0, ErrInvalidFraming)
	}
}
