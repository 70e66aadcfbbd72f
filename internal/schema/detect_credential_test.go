package schema

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// hasJWTQuadratic is the definition hasJWT implements: from every "eyJ"
// that does not continue a base64url run, a run of base64url segments
// with three or more segments and 16 or more characters.
func hasJWTQuadratic(s string) bool {
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
		for ; k < len(s) && (isB64URL(s[k]) || s[k] == '.'); k++ {
			if s[k] == '.' {
				segs++
			}
		}
		if segs >= 3 && k-i >= jwtMinLen {
			return true
		}
	}
}

func TestJWTMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	units := []string{"eyJ", ".", "a", "-", " ", "eyJhbGci", "x"}
	for range 100000 {
		var b strings.Builder
		for range 1 + r.IntN(12) {
			b.WriteString(units[r.IntN(len(units))])
		}
		s := b.String()
		if got, want := hasJWT(s), hasJWTQuadratic(s); got != want {
			t.Fatalf("hasJWT(%q) = %v, definition says %v", s, got, want)
		}
	}
}

func TestAccessKeys(t *testing.T) {
	wantKind(t, KindToken,
		"AKIAIOSFODNN7EXAMPLE",
		"aws_access_key_id=ASIAY34FZKBOKMUTVV7A",
		"ghp_"+strings.Repeat("aB3", 12),
		"token: gho_"+strings.Repeat("Zz9", 12),
		"github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123",
		"glpat-abcdefghij0123456789",
		"xoxb-2048-1024-Ab3dEf6hIj9kLm2nOp5qRs8t",
		"sk_live_abcdefghijklmnop",
		"rk_test_0123456789abcdef",
		"AIza"+strings.Repeat("x", 35),
		"npm_"+strings.Repeat("a1", 18),
		"SG."+strings.Repeat("a", 22)+"."+strings.Repeat("b", 43),
	)
	for _, v := range []string{
		"AKIA", "AKIAPROJECT", "AKIAIOSFODNN7EXAMPLEX", "AKIAIOSFODNN7EXAMPL", // wrong length
		"xAKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE_x", // no boundary
		"akiaiosfodnn7example", // wrong alphabet
		"task-proj-overview", "desk_live_view", "ghp_short", "AIDA_ROSA_CRUISE", "xoxb-", "sk_live_", "whsec_",
	} {
		if hasAccessKey(v) {
			t.Errorf("hasAccessKey(%q) = true", v)
		}
	}
	wantBenign(t, "task-proj-overview", "desk_live_view", "AIDA_ROSA_CRUISE", "sk_live_mode", "ghp_enabled")
}

func TestAuthSchemeEveryOccurrence(t *testing.T) {
	// The first "token" is a word in a name; the second carries one.
	wantKind(t, KindToken, "token_count=3 token a1b2c3d4e5f6g7h8")
	wantKind(t, KindToken, "authorization: bearer%20abcdef123456789")
	wantBenign(t, "token expired", "basic plan", "bearer of news 2")
}
