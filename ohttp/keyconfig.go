package ohttp

import (
	"encoding/binary"
	"errors"
	"slices"
)

// Limits fixed by the 2-byte length fields of RFC 9458 §3.
const (
	// maxSuitesLength is the largest HPKE Symmetric Algorithms Length, a
	// multiple of 4 below 2^16.
	maxSuitesLength = 65532
	// MaxSuites is the largest number of symmetric suites a key config can
	// list.
	MaxSuites = maxSuitesLength / 4
	// maxConfigLength is the largest key config an application/ohttp-keys
	// list can carry.
	maxConfigLength = 65535
)

// KeyConfig is a gateway key configuration (RFC 9458 §3.1): the KEM public
// key a client encapsulates to, and the symmetric suites the gateway accepts.
type KeyConfig struct {
	KeyID     uint8
	KEM       KEMID
	PublicKey []byte
	Suites    []SymmetricSuite
}

// offers reports whether s is listed in c.
func (c *KeyConfig) offers(s SymmetricSuite) bool {
	return slices.Contains(c.Suites, s)
}

// validate checks what MarshalBinary and NewPrivateKey need: a supported KEM,
// a public key of its length, and 1 to MaxSuites suites. Unknown KDF or AEAD
// identifiers are allowed, as in a parsed config: a client just cannot pick
// them.
func (c *KeyConfig) validate() error {
	p, err := checkKEM(c.KEM)
	if err != nil {
		return err
	}
	if len(c.PublicKey) != p.npk {
		return formatError("key config", "public key has the wrong length")
	}
	if len(c.Suites) == 0 {
		return formatError("key config", "no symmetric suites")
	}
	if len(c.Suites) > MaxSuites {
		return formatError("key config", "too many symmetric suites")
	}
	return nil
}

// MarshalBinary encodes c as a Key Config (RFC 9458 §3.1):
//
//	HPKE Symmetric Algorithms {
//	  HPKE KDF ID (16),
//	  HPKE AEAD ID (16),
//	}
//
//	Key Config {
//	  Key Identifier (8),
//	  HPKE KEM ID (16),
//	  HPKE Public Key (Npk * 8),
//	  HPKE Symmetric Algorithms Length (16) = 4..65532,
//	  HPKE Symmetric Algorithms (32) ...,
//	}
func (c *KeyConfig) MarshalBinary() ([]byte, error) {
	return c.appendBinary(nil)
}

func (c *KeyConfig) appendBinary(b []byte) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	b = slices.Grow(b, c.encodedLen())
	b = append(b, c.KeyID)
	b = binary.BigEndian.AppendUint16(b, uint16(c.KEM))
	b = append(b, c.PublicKey...)
	b = binary.BigEndian.AppendUint16(b, uint16(4*len(c.Suites)))
	for _, s := range c.Suites {
		b = binary.BigEndian.AppendUint16(b, uint16(s.KDF))
		b = binary.BigEndian.AppendUint16(b, uint16(s.AEAD))
	}
	return b, nil
}

func (c *KeyConfig) encodedLen() int {
	return 1 + 2 + len(c.PublicKey) + 2 + 4*len(c.Suites)
}

// ParseKeyConfig decodes one Key Config (see KeyConfig.MarshalBinary), with
// nothing after it. A config whose KEM is not supported yields an
// *UnsupportedError, since its public key length is unknown; symmetric suites
// with unknown identifiers are kept, for the caller to skip. The public key
// is checked to be valid for its KEM. The result does not alias b.
func ParseKeyConfig(b []byte) (*KeyConfig, error) {
	if len(b) < 3 {
		return nil, formatError("key config", "truncated header")
	}
	kemID := KEMID(binary.BigEndian.Uint16(b[1:3]))
	p, err := checkKEM(kemID)
	if err != nil {
		return nil, err
	}
	c := &KeyConfig{KeyID: b[0], KEM: kemID}
	rest := b[3:]
	if len(rest) < p.npk {
		return nil, formatError("key config", "truncated public key")
	}
	c.PublicKey = slices.Clone(rest[:p.npk])
	rest = rest[p.npk:]
	if len(rest) < 2 {
		return nil, formatError("key config", "truncated symmetric algorithms length")
	}
	n := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	switch {
	case n == 0:
		return nil, formatError("key config", "no symmetric suites")
	case n%4 != 0:
		return nil, formatError("key config", "symmetric algorithms length not a multiple of 4")
	case n > len(rest):
		return nil, formatError("key config", "truncated symmetric algorithms")
	case n < len(rest):
		return nil, formatError("key config", "trailing bytes")
	}
	c.Suites = make([]SymmetricSuite, n/4)
	for i := range c.Suites {
		c.Suites[i] = SymmetricSuite{
			KDF:  KDFID(binary.BigEndian.Uint16(rest[4*i:])),
			AEAD: AEADID(binary.BigEndian.Uint16(rest[4*i+2:])),
		}
	}
	if err := checkKEMPublicKey(kemID, c.PublicKey); err != nil {
		return nil, err
	}
	return c, nil
}

// MarshalKeyConfigs encodes cfgs as an application/ohttp-keys list
// (RFC 9458 §3.2), each config preceded by its 2-byte length:
//
//	Key Configs {
//	  Key Config Length (16),
//	  Key Config (..),
//	} ...
func MarshalKeyConfigs(cfgs []*KeyConfig) ([]byte, error) {
	if len(cfgs) == 0 {
		return nil, formatError("key config list", "empty")
	}
	var b []byte
	for _, c := range cfgs {
		if c == nil {
			return nil, formatError("key config list", "nil key config")
		}
		if err := c.validate(); err != nil {
			return nil, err
		}
		n := c.encodedLen()
		if n > maxConfigLength {
			return nil, formatError("key config list", "key config too long")
		}
		b = binary.BigEndian.AppendUint16(b, uint16(n))
		var err error
		if b, err = c.appendBinary(b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// ParseKeyConfigs decodes an application/ohttp-keys list (see
// MarshalKeyConfigs). Configs whose KEM is not supported are skipped, but
// any encoding error refuses the whole list (RFC 9458 §3.2). An empty
// input is malformed; the result is empty if no config is supported.
func ParseKeyConfigs(b []byte) ([]*KeyConfig, error) {
	cfgs, _, err := parseKeyConfigs(b)
	return cfgs, err
}

// parseKeyConfigs is ParseKeyConfigs, also reporting how many configs were
// skipped.
func parseKeyConfigs(b []byte) (cfgs []*KeyConfig, skipped int, err error) {
	if len(b) == 0 {
		return nil, 0, formatError("key config list", "empty")
	}
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, 0, formatError("key config list", "truncated length")
		}
		n := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if n > len(b) {
			return nil, 0, formatError("key config list", "truncated key config")
		}
		c, err := ParseKeyConfig(b[:n])
		b = b[n:]
		if ue := (*UnsupportedError)(nil); errors.As(err, &ue) && ue.Kind == "KEM" {
			// Only the KEM can be unsupported here; the list is still
			// well-formed around it.
			skipped++
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		cfgs = append(cfgs, c)
	}
	return cfgs, skipped, nil
}
