package signedkeys

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"
)

// PinPrefix starts the text form of a key pin.
const PinPrefix = "veil-pin-ed25519:"

// pinB64 is the pin's encoding: unpadded base64url, strict about the
// unused bits of the last character so that each key has one pin text.
var pinB64 = base64.RawURLEncoding.Strict()

// pinTextLength is the length of a pin's text: the prefix and 43
// base64url characters for 32 bytes.
var pinTextLength = len(PinPrefix) + pinB64.EncodedLen(ed25519.PublicKeySize)

// Pin is a key pin: the Ed25519 public key that must have signed a key
// document. Its text form, which apps ship in their configuration, is
//
//	veil-pin-ed25519:<the 32-byte public key, unpadded base64url>
//
// It is public: it may be logged, printed and committed.
type Pin [ed25519.PublicKeySize]byte

// ParsePin parses a pin's text form strictly: the exact prefix, then
// exactly 43 base64url characters in their canonical form. Surrounding
// space, padding and the standard base64 alphabet are refused, so a pin
// that was cut or mangled in copying fails here rather than never
// matching. Errors wrap ErrInvalidPin.
func ParsePin(s string) (Pin, error) {
	var p Pin
	rest, ok := strings.CutPrefix(s, PinPrefix)
	if !ok {
		return p, fmt.Errorf("%w: it must start with %q", ErrInvalidPin, PinPrefix)
	}
	if len(s) != pinTextLength {
		return p, fmt.Errorf("%w: %d characters after %q, want %d", ErrInvalidPin, len(rest), PinPrefix, pinTextLength-len(PinPrefix))
	}
	n, err := pinB64.Decode(p[:], []byte(rest))
	if err != nil || n != len(p) {
		return Pin{}, fmt.Errorf("%w: not unpadded base64url of a 32-byte key", ErrInvalidPin)
	}
	return p, nil
}

// PinOf returns the pin of an Ed25519 public key.
func PinOf(pub ed25519.PublicKey) (Pin, error) {
	var p Pin
	if len(pub) != len(p) {
		return p, fmt.Errorf("%w: public key of %d bytes, want %d", ErrInvalidPin, len(pub), len(p))
	}
	copy(p[:], pub)
	return p, nil
}

// String returns the pin's text form.
func (p Pin) String() string {
	return PinPrefix + pinB64.EncodeToString(p[:])
}

// PublicKey returns the pinned Ed25519 public key (a copy).
func (p Pin) PublicKey() ed25519.PublicKey {
	return ed25519.PublicKey(p[:]) // p is the receiver's copy
}
