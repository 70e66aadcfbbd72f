package bhttp

import (
	"errors"
	"strconv"
)

// Sentinel errors. Decoding wraps them in a *DecodeError; encoding wraps
// them with the section they concern.
var (
	// ErrTruncated means the message ends inside a section, or a length
	// runs past the end of the message or of its enclosing section.
	ErrTruncated = errors.New("bhttp: message truncated")
	// ErrTooLarge means a length or count exceeds one of the Max limits.
	ErrTooLarge = errors.New("bhttp: message exceeds a size limit")
	// ErrInvalidFraming means the framing indicator is not 0–3 or is not
	// the kind of message (request or response) being decoded.
	ErrInvalidFraming = errors.New("bhttp: invalid framing indicator")
	// ErrInvalidControlData means the method, scheme, authority or path is
	// not acceptable.
	ErrInvalidControlData = errors.New("bhttp: invalid request control data")
	// ErrInvalidStatus means a status code is outside 100–199 for an
	// informational response or 200–599 for a final one.
	ErrInvalidStatus = errors.New("bhttp: invalid status code")
	// ErrInvalidField means a field name or value breaks RFC 9113 §8.2.1.
	ErrInvalidField = errors.New("bhttp: invalid field line")
	// ErrInvalidPadding means a non-zero byte follows the message.
	ErrInvalidPadding = errors.New("bhttp: non-zero padding")
)

// Sections named in errors.
const (
	secFraming       = "framing indicator"
	secControl       = "control data"
	secInformational = "informational response"
	secHeader        = "header section"
	secContent       = "content"
	secTrailer       = "trailer section"
	secPadding       = "padding"
)

// DecodeError reports where decoding failed. Err is one of the sentinel
// errors of this package.
type DecodeError struct {
	Section string // e.g. "header section"
	Offset  int    // byte offset in the message where the failing item starts
	Err     error
}

func (e *DecodeError) Error() string {
	return e.Err.Error() + " (" + e.Section + " at offset " + strconv.Itoa(e.Offset) + ")"
}

func (e *DecodeError) Unwrap() error { return e.Err }

// encodeError is returned by the encoder; it wraps a sentinel error.
func encodeError(section string, err error) error {
	return &encodeErr{section: section, err: err}
}

type encodeErr struct {
	section string
	err     error
}

func (e *encodeErr) Error() string { return e.err.Error() + " (encoding " + e.section + ")" }
func (e *encodeErr) Unwrap() error { return e.err }
