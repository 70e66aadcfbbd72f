package privacypass

import (
	"bytes"
	"encoding/json"
)

// WellKnownIssuerDirectory is the issuer directory's path (RFC 9578 §4).
const WellKnownIssuerDirectory = "/.well-known/private-token-issuer-directory"

// MaxDirectorySize bounds a decoded issuer directory.
const MaxDirectorySize = 64 << 10

// MaxDirectoryKeys bounds its token-keys list.
const MaxDirectoryKeys = 16

// Directory is the issuer directory of RFC 9578 §4:
//
//	{"issuer-request-uri": "https://issuer.example/request",
//	 "token-keys": [{"token-type": 2, "token-key": "<base64url SPKI>",
//	                 "not-before": 1686913811}]}
type Directory struct {
	IssuerRequestURI string         `json:"issuer-request-uri"`
	TokenKeys        []DirectoryKey `json:"token-keys"`
}

// DirectoryKey is one token-keys entry. NotBefore is Unix seconds, 0 when
// absent.
type DirectoryKey struct {
	TokenType uint16 `json:"token-type"`
	TokenKey  string `json:"token-key"`
	NotBefore int64  `json:"not-before,omitempty"`
}

// Marshal encodes d.
func (d *Directory) Marshal() ([]byte, error) { return json.Marshal(d) }

// ParseDirectory decodes a directory, refusing oversized input, trailing
// data, and entries without a type or key. Unknown fields are ignored
// (RFC 9578 §4 lets directories grow).
func ParseDirectory(data []byte) (*Directory, error) {
	if len(data) > MaxDirectorySize {
		return nil, formatError("issuer directory", "too long")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var d Directory
	if err := dec.Decode(&d); err != nil {
		return nil, formatError("issuer directory", "not a directory object")
	}
	if dec.More() {
		return nil, formatError("issuer directory", "trailing data")
	}
	if d.IssuerRequestURI == "" {
		return nil, formatError("issuer directory", "no issuer-request-uri")
	}
	if len(d.TokenKeys) > MaxDirectoryKeys {
		return nil, formatError("issuer directory", "too many token-keys")
	}
	for _, k := range d.TokenKeys {
		if k.TokenType == 0 || k.TokenKey == "" || k.NotBefore < 0 {
			return nil, formatError("issuer directory", "token-keys entry")
		}
	}
	return &d, nil
}

// PublicKeys parses the type 0x0002 keys of d, skipping other types.
func (d *Directory) PublicKeys() ([]*PublicKey, error) {
	var out []*PublicKey
	for _, k := range d.TokenKeys {
		if k.TokenType != TokenTypeBlindRSA {
			continue
		}
		raw, ok := decodeB64(k.TokenKey)
		if !ok {
			return nil, formatError("issuer directory", "token-key is not base64url")
		}
		pk, err := NewPublicKey(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, pk)
	}
	return out, nil
}

// DirectoryKeyFor is the token-keys entry of a key.
func DirectoryKeyFor(k *PublicKey, notBefore int64) DirectoryKey {
	return DirectoryKey{TokenType: TokenTypeBlindRSA, TokenKey: b64.EncodeToString(k.SPKI), NotBefore: notBefore}
}
