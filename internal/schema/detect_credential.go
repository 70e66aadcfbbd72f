package schema

import "strings"

// Credentials with a recognisable shape: JSON Web Tokens, Authorization
// header values, and access keys whose vendor publishes a prefix. Keys
// without a published shape are found by their randomness (detect_secret.go).

// ---- JWT (RFC 7519 §7.2: compact JWS or JWE, header starts {" → eyJ)

// jwtMinLen is the shortest compact serialization reported: a header, a
// payload and the dots.
const jwtMinLen = 16

// hasJWT looks at each "eyJ" that does not continue a base64url run and
// reads the run of base64url segments from it. A later "eyJ" inside a run
// already read ends at the same place with fewer segments, so the scan
// resumes after the run.
func hasJWT(s string) bool {
	for off := 0; ; {
		i := strings.Index(s[off:], "eyJ")
		if i < 0 {
			return false
		}
		i += off
		off = i + 3
		if isB64URL(at(s, i-1)) {
			continue
		}
		k, segs := i, 1
		for ; k < len(s); k++ {
			c := s[k]
			if c == '.' {
				segs++
				continue
			}
			if !isB64URL(c) {
				break
			}
		}
		if segs >= 3 && k-i >= jwtMinLen {
			return true
		}
		off = max(off, k)
	}
}

// ---- Authorization credentials (RFC 6750 §2.1 Bearer, RFC 7617 Basic)

// authMinCredential is the shortest credential reported after a scheme
// (RFC 6750's own example token is 15 characters).
const authMinCredential = 12

// hasAuthScheme finds "Bearer", "Basic" or "Token" as a word followed by a
// space (or one percent-encoded, "bearer%20…") and a credential of
// authMinCredential or more token68 characters (RFC 7235 §2.1) with at
// least one digit. Every occurrence is tried; the credential scans of two
// occurrences do not overlap, since a credential holds no space and an
// occurrence inside one follows a letter or digit.
func hasAuthScheme(s string) bool {
	for _, scheme := range [...]string{"bearer", "basic", "token"} {
		for off := 0; off < len(s); {
			i := indexFold(s[off:], scheme)
			if i < 0 {
				break
			}
			i += off
			off = i + len(scheme)
			if isAlnum(at(s, i-1)) {
				continue
			}
			k := off
			switch {
			case at(s, k) == ' ':
				for k < len(s) && s[k] == ' ' {
					k++
				}
			case strings.HasPrefix(s[k:], "%20"):
				k += 3
			default:
				continue
			}
			n, digits := 0, 0
			for ; k < len(s); k++ {
				c := s[k]
				if !isB64URL(c) && c != '.' && c != '~' && c != '+' && c != '/' && c != '=' {
					break
				}
				if isDigit(c) {
					digits++
				}
				n++
			}
			if n >= authMinCredential && digits > 0 {
				return true
			}
			off = max(off, k)
		}
	}
	return false
}

// ---- access keys with a published prefix

// Alphabets of access key bodies.
const (
	keyUpperDigits = iota // A–Z 0–9
	keyAlnum              // A–Z a–z 0–9
	keyAlnumDash          // and '-', '_'
	keyAlnumDot           // and '-', '_', '.'
)

// accessKeyShapes are the access key formats their issuers document: a
// fixed prefix, then a body of a known alphabet and length. A match needs
// a boundary on both sides (no token character before the prefix or after
// the body).
var accessKeyShapes = [...]struct {
	prefix   string
	alphabet int
	min, max int // body length
}{
	// AWS access key ids and other unique ids (IAM user guide, "Unique
	// identifiers"): 4-letter prefix, 16 upper-case letters and digits.
	{"AKIA", keyUpperDigits, 16, 16}, {"ASIA", keyUpperDigits, 16, 16},
	{"ABIA", keyUpperDigits, 16, 16}, {"ACCA", keyUpperDigits, 16, 16},
	{"AGPA", keyUpperDigits, 16, 16}, {"AIDA", keyUpperDigits, 16, 16},
	{"AIPA", keyUpperDigits, 16, 16}, {"ANPA", keyUpperDigits, 16, 16},
	{"ANVA", keyUpperDigits, 16, 16}, {"AROA", keyUpperDigits, 16, 16},
	{"APKA", keyUpperDigits, 16, 16},
	// GitHub tokens: ghp_, gho_, ghu_, ghs_, ghr_ and 36 characters;
	// fine-grained personal access tokens.
	{"ghp_", keyAlnum, 36, 36}, {"gho_", keyAlnum, 36, 36}, {"ghu_", keyAlnum, 36, 36},
	{"ghs_", keyAlnum, 36, 36}, {"ghr_", keyAlnum, 36, 36},
	{"github_pat_", keyAlnumDash, 22, 255},
	// GitLab personal, deploy and runner tokens.
	{"glpat-", keyAlnumDash, 20, 64}, {"gldt-", keyAlnumDash, 20, 64}, {"glrt-", keyAlnumDash, 20, 64},
	// Slack bot, user, app, refresh and configuration tokens.
	{"xoxb-", keyAlnumDash, 10, 255}, {"xoxp-", keyAlnumDash, 10, 255}, {"xoxa-", keyAlnumDash, 10, 255},
	{"xoxr-", keyAlnumDash, 10, 255}, {"xoxs-", keyAlnumDash, 10, 255}, {"xoxe-", keyAlnumDash, 10, 255},
	{"xapp-", keyAlnumDash, 10, 255},
	// Stripe secret, restricted and publishable keys, webhook secrets.
	{"sk_live_", keyAlnum, 16, 247}, {"sk_test_", keyAlnum, 16, 247},
	{"rk_live_", keyAlnum, 16, 247}, {"rk_test_", keyAlnum, 16, 247},
	{"pk_live_", keyAlnum, 16, 247}, {"pk_test_", keyAlnum, 16, 247},
	{"whsec_", keyAlnum, 24, 128},
	// Google API keys.
	{"AIza", keyAlnumDash, 35, 35},
	// npm access tokens.
	{"npm_", keyAlnum, 36, 36},
	// SendGrid API keys: "SG." 22 "." 43.
	{"SG.", keyAlnumDot, 66, 66},
	// OpenAI and Anthropic API keys.
	{"sk-proj-", keyAlnumDash, 32, 255}, {"sk-ant-", keyAlnumDash, 32, 255},
}

func keyByte(alphabet int, c byte) bool {
	switch alphabet {
	case keyUpperDigits:
		return 'A' <= c && c <= 'Z' || isDigit(c)
	case keyAlnum:
		return isAlnum(c)
	case keyAlnumDash:
		return isB64URL(c)
	default:
		return isB64URL(c) || c == '.'
	}
}

// accessKeyByFirst lists, per first byte of a prefix, the accessKeyShapes
// starting with it.
var accessKeyByFirst = func() (t [256][]uint8) {
	for i, k := range accessKeyShapes {
		t[k.prefix[0]] = append(t[k.prefix[0]], uint8(i))
	}
	return t
}()

// hasAccessKey finds an access key of a published shape. At each position
// that starts a prefix it tries the shapes (a fixed number) and measures
// the body once per shape; a body ends at the first byte outside its
// alphabet, and no body is longer than 255 bytes, so the work per position
// is bounded.
func hasAccessKey(s string) bool {
	for i := 0; i < len(s); i++ {
		shapes := accessKeyByFirst[s[i]]
		if len(shapes) == 0 || isB64URL(at(s, i-1)) {
			continue
		}
		for _, ki := range shapes {
			k := &accessKeyShapes[ki]
			if !strings.HasPrefix(s[i:], k.prefix) {
				continue
			}
			b := i + len(k.prefix)
			n := 0
			for n <= k.max && keyByte(k.alphabet, at(s, b+n)) {
				n++
			}
			if n >= k.min && n <= k.max && !isB64URL(at(s, b+n)) {
				return true
			}
		}
	}
	return false
}
