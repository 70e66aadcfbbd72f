package privacypass

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// AuthScheme is the HTTP authentication scheme of RFC 9577.
const AuthScheme = "PrivateToken"

// MaxHeaderSize bounds an Authorization or WWW-Authenticate value this
// package parses (a type 0x0002 Authorization value is 493 bytes).
const MaxHeaderSize = 4096

// b64 encodes without padding; decodeB64 accepts base64url with or
// without padding (RFC 9577 §2.1 and §2.2 use base64url).
var b64 = base64.RawURLEncoding

func decodeB64(s string) ([]byte, bool) {
	s = strings.TrimRight(s, "=")
	out, err := b64.DecodeString(s)
	return out, err == nil
}

// FormatAuthorization is the Authorization value redeeming an encoded
// Token (RFC 9577 §2.2): PrivateToken token="…".
func FormatAuthorization(token []byte) string {
	return AuthScheme + ` token="` + b64.EncodeToString(token) + `"`
}

// ParseAuthorization returns the encoded Token of a PrivateToken
// Authorization value. The token bytes still need ParseToken.
func ParseAuthorization(value string) ([]byte, error) {
	params, err := parseAuth(value)
	if err != nil {
		return nil, err
	}
	raw, ok := params["token"]
	if !ok {
		return nil, formatError("Authorization", "no token parameter")
	}
	tok, ok := decodeB64(raw)
	if !ok {
		return nil, formatError("Authorization", "token is not base64url")
	}
	return tok, nil
}

// Challenge is one PrivateToken challenge of a WWW-Authenticate value
// (RFC 9577 §2.1): the encoded TokenChallenge and the issuer's encoded
// SPKI. MaxAge is -1 when absent.
type Challenge struct {
	TokenChallenge []byte
	TokenKey       []byte
	MaxAge         int
}

// FormatChallenge is a WWW-Authenticate value:
// PrivateToken challenge="…", token-key="…"[, max-age=N].
func FormatChallenge(c Challenge) string {
	s := AuthScheme + ` challenge="` + b64.EncodeToString(c.TokenChallenge) +
		`", token-key="` + b64.EncodeToString(c.TokenKey) + `"`
	if c.MaxAge >= 0 {
		s += ", max-age=" + strconv.Itoa(c.MaxAge)
	}
	return s
}

// ParseChallenge decodes a WWW-Authenticate value holding one PrivateToken
// challenge.
func ParseChallenge(value string) (Challenge, error) {
	params, err := parseAuth(value)
	if err != nil {
		return Challenge{}, err
	}
	c := Challenge{MaxAge: -1}
	var ok bool
	if c.TokenChallenge, ok = decodeB64(params["challenge"]); !ok || len(c.TokenChallenge) == 0 {
		return Challenge{}, formatError("WWW-Authenticate", "challenge")
	}
	if c.TokenKey, ok = decodeB64(params["token-key"]); !ok || len(c.TokenKey) == 0 {
		return Challenge{}, formatError("WWW-Authenticate", "token-key")
	}
	if ma, present := params["max-age"]; present {
		n, err := strconv.Atoi(ma)
		if err != nil || n < 0 {
			return Challenge{}, formatError("WWW-Authenticate", "max-age")
		}
		c.MaxAge = n
	}
	return c, nil
}

// parseAuth splits `PrivateToken k=v, k="v"` (RFC 9110 §11.2 auth-param
// list, one challenge or credentials) into lowercase keys and values. It
// runs in one pass over value.
func parseAuth(value string) (map[string]string, error) {
	const what = "PrivateToken header"
	if len(value) > MaxHeaderSize {
		return nil, formatError(what, "too long")
	}
	scheme, rest, _ := strings.Cut(strings.TrimLeft(value, " \t"), " ")
	if !strings.EqualFold(scheme, AuthScheme) {
		return nil, formatError(what, "scheme")
	}
	params := make(map[string]string, 3)
	for {
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			return params, nil
		}
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return nil, formatError(what, "parameter")
		}
		key := strings.ToLower(strings.TrimRight(rest[:eq], " \t"))
		if !isToken(key) {
			return nil, formatError(what, "parameter name")
		}
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		var val string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return nil, formatError(what, "unterminated quoted string")
			}
			val, rest = rest[1:1+end], rest[2+end:]
			if strings.IndexByte(val, '\\') >= 0 {
				return nil, formatError(what, "escaped quoted string")
			}
		} else {
			end := strings.IndexAny(rest, ", \t")
			if end < 0 {
				end = len(rest)
			}
			val, rest = rest[:end], rest[end:]
		}
		if _, dup := params[key]; dup {
			return nil, formatError(what, "duplicate parameter")
		}
		params[key] = val
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			return params, nil
		}
		if rest[0] != ',' {
			return nil, formatError(what, "missing comma")
		}
		rest = rest[1:]
	}
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
