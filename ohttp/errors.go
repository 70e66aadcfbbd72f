package ohttp

import (
	"errors"
	"fmt"
)

// Problem types (RFC 9457) that RFC 9458 registers, for the answers a
// gateway gives and a client recognises.
const (
	// ProblemTypeKey reports a key configuration the gateway cannot use
	// (RFC 9458 §5.3): an unknown key identifier, a retired key, or a
	// request that does not decrypt — deliberately one answer for all.
	ProblemTypeKey = "https://iana.org/assignments/http-problem-types#ohttp-key"
	// ProblemTypeDate reports an inner request whose Date is missing or
	// outside the gateway's replay window (RFC 9458 §6.5.2). It travels
	// inside the encapsulated response with the gateway's own Date.
	ProblemTypeDate = "https://iana.org/assignments/http-problem-types#date"
)

var (
	// ErrDecrypt reports that a message could not be decrypted. It is
	// deliberately opaque: it does not say whether the KEM, the key schedule
	// or the AEAD rejected the input (RFC 9458 §6.4).
	ErrDecrypt = errors.New("ohttp: decryption failed")

	// ErrMalformed is wrapped by every *FormatError.
	ErrMalformed = errors.New("ohttp: malformed message")

	// ErrUnsupported is wrapped by every *UnsupportedError.
	ErrUnsupported = errors.New("ohttp: unsupported algorithm")

	// ErrKeyMismatch reports an encapsulated request whose key identifier or
	// KEM is not that of the private key asked to decapsulate it. Gateways
	// answer it like a decryption failure (RFC 9458 §5.3).
	ErrKeyMismatch = errors.New("ohttp: request is not for this key")

	// ErrSuiteNotOffered reports a request or a client choice whose
	// (KDF, AEAD) pair is not listed in the key configuration.
	ErrSuiteNotOffered = errors.New("ohttp: symmetric suite not offered by the key configuration")

	// ErrInvalidKey reports a private key that cannot be used: a secret
	// of the wrong form, or one that does not match the configuration's
	// public key.
	ErrInvalidKey = errors.New("ohttp: invalid key")
)

// FormatError reports bytes that do not follow the RFC 9458 encoding. It
// wraps ErrMalformed.
type FormatError struct {
	// What names the structure being decoded or encoded, for example
	// "key config" or "encapsulated request".
	What string
	// Reason says what is wrong with it.
	Reason string
}

func (e *FormatError) Error() string {
	return "ohttp: malformed " + e.What + ": " + e.Reason
}

// Unwrap returns ErrMalformed.
func (e *FormatError) Unwrap() error { return ErrMalformed }

func formatError(what, reason string) error {
	return &FormatError{What: what, Reason: reason}
}

// UnsupportedError reports an algorithm identifier this package does not
// implement. It wraps ErrUnsupported.
type UnsupportedError struct {
	// Kind is "KEM", "KDF" or "AEAD".
	Kind string
	// ID is the identifier as read from the wire.
	ID uint16
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("ohttp: unsupported %s 0x%04x", e.Kind, e.ID)
}

// Unwrap returns ErrUnsupported.
func (e *UnsupportedError) Unwrap() error { return ErrUnsupported }
