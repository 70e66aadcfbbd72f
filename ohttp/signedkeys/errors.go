package signedkeys

import (
	"errors"
	"strings"
)

var (
	// ErrMalformed is wrapped by every *FormatError.
	ErrMalformed = errors.New("signedkeys: malformed signed key document")

	// ErrInvalidPin reports a key pin that is not PinPrefix followed by
	// the unpadded base64url encoding of a 32-byte Ed25519 public key.
	ErrInvalidPin = errors.New("signedkeys: invalid key pin")

	// ErrUnauthenticated is wrapped by every *VerifyError: the key
	// document may not be used.
	ErrUnauthenticated = errors.New("signedkeys: key document not authenticated by the key pin")

	// ErrNotSigned reports a signed key document that carries no
	// signature by the pinned key (a *VerifyError wraps it).
	ErrNotSigned = errors.New("signedkeys: no signature by the pinned key")

	// ErrBadSignature reports a signature by the pinned key that does not
	// verify over the key document (a *VerifyError wraps it): the document
	// was changed after it was signed.
	ErrBadSignature = errors.New("signedkeys: the pinned key's signature does not verify")
)

// FormatError reports bytes that do not follow the signed key document
// encoding (see the package documentation). It wraps ErrMalformed.
type FormatError struct {
	// Reason says what is wrong.
	Reason string
}

func (e *FormatError) Error() string { return "signedkeys: malformed signed key document: " + e.Reason }

// Unwrap returns ErrMalformed.
func (e *FormatError) Unwrap() error { return ErrMalformed }

func formatError(reason string) error { return &FormatError{Reason: reason} }

// VerifyError reports a signed key document that does not authenticate
// against a pin. It wraps ErrUnauthenticated and its cause, ErrNotSigned
// or ErrBadSignature.
type VerifyError struct {
	// Pin is the pin the document was checked against.
	Pin Pin
	// Signers are the pins of the Ed25519 keys that signed the document,
	// verified or not; a pin among them that is not Pin usually means the
	// gateway's signing key was rotated, or that a relay signed keys of
	// its own.
	Signers []Pin
	// Err is ErrNotSigned or ErrBadSignature.
	Err error
}

func (e *VerifyError) Error() string {
	var b strings.Builder
	b.WriteString("key document not authenticated: ")
	if errors.Is(e.Err, ErrBadSignature) {
		b.WriteString("the signature by the pinned key ")
		b.WriteString(e.Pin.String())
		b.WriteString(" does not verify (the document was altered on the way)")
		return b.String()
	}
	b.WriteString("no signature by the pinned key ")
	b.WriteString(e.Pin.String())
	switch len(e.Signers) {
	case 0:
		b.WriteString(" (no Ed25519 signature at all)")
	default:
		b.WriteString(" (signed by ")
		for i, s := range e.Signers {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(s.String())
		}
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns ErrUnauthenticated and the cause.
func (e *VerifyError) Unwrap() []error { return []error{ErrUnauthenticated, e.Err} }
