package bhttp

// InformationalResponse is an interim (1xx) response that precedes the final
// response (RFC 9292 §3.5.1).
type InformationalResponse struct {
	StatusCode int
	Header     []Field
}

// Informational responses, RFC 9292 §3.5.1:
//
//	Known-Length Informational Response {
//	  Informational Response Control Data (..),
//	  Known-Length Field Section (..),
//	}
//
//	Indeterminate-Length Informational Response {
//	  Informational Response Control Data (..),
//	  Indeterminate-Length Field Section (..),
//	}
//
//	Informational Response Control Data {
//	  Status Code (i) = 100..199,
//	}
//
// The header section of an informational response cannot be truncated: a
// final response must follow it.

// informational decodes the header section of an informational response
// whose status code was read, storing it as the i-th.
func (d *decoder) informational(indeterminate bool, status uint64, i int) error {
	header, err := d.fieldSection(indeterminate, secInformational)
	if err != nil {
		return err
	}
	if d.fill {
		d.info[i] = InformationalResponse{StatusCode: int(status), Header: header}
	}
	return nil
}

func isInformational[T int | uint64](code T) bool { return 100 <= code && code <= 199 }
func isFinal[T int | uint64](code T) bool         { return 200 <= code && code <= 599 }

// informationalSize validates informational responses for encoding and
// returns their encoded size.
func (o MarshalOptions) informationalSize(info []InformationalResponse) (int, error) {
	if len(info) > MaxInformationalResponses {
		return 0, encodeError(secInformational, ErrTooLarge)
	}
	size := 0
	for _, ir := range info {
		if !isInformational(ir.StatusCode) {
			return 0, encodeError(secInformational, ErrInvalidStatus)
		}
		h, err := fieldLinesLen(ir.Header, secInformational)
		if err != nil {
			return 0, err
		}
		size += varintLen(uint64(ir.StatusCode)) + fieldSectionLen(h, o.Indeterminate)
	}
	return size, nil
}

func (o MarshalOptions) appendInformational(dst []byte, info []InformationalResponse) []byte {
	for _, ir := range info {
		dst = appendVarint(dst, uint64(ir.StatusCode))
		h, _ := fieldLinesLen(ir.Header, secInformational) // validated already
		dst = appendFieldSection(dst, ir.Header, h, o.Indeterminate)
	}
	return dst
}
