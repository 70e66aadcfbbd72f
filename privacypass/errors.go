package privacypass

import (
	"errors"
	"fmt"
)

var (
	// ErrMalformed is wrapped by every *FormatError.
	ErrMalformed = errors.New("privacypass: malformed message")

	// ErrInvalidToken is the one error a redemption check returns, whatever
	// failed (RFC 9577 §2.2: the origin answers every failure with the same
	// challenge). Verifier.Check reports the reason beside it for metrics.
	ErrInvalidToken = errors.New("privacypass: invalid token")

	// ErrUnsupported reports a token type other than 0x0002.
	ErrUnsupported = errors.New("privacypass: unsupported token type")
)

// FormatError reports bytes that do not follow the RFC 9577/9578 encoding.
// It never carries the bytes themselves.
type FormatError struct {
	What   string // the structure being decoded, e.g. "Token"
	Reason string // what was wrong, e.g. "truncated"
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("privacypass: malformed %s: %s", e.What, e.Reason)
}

// Unwrap makes errors.Is(err, ErrMalformed) hold.
func (e *FormatError) Unwrap() error { return ErrMalformed }

func formatError(what, reason string) error {
	return &FormatError{What: what, Reason: reason}
}
