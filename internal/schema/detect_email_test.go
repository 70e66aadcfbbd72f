package schema

import (
	"strings"
	"testing"
)

func TestEmailNormalised(t *testing.T) {
	wantKind(t, KindEmail,
		"jane.doe＠example.com", // fullwidth commercial at
		"ｊａｎｅ．ｄｏｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", // all fullwidth
		"jane%40example.com",   // percent-encoded
		"jane%2540example.com", // encoded twice
		"mailto:jane%2Edoe%40example.org",
		"jane\u200b@example.com", // zero-width space inside
		"jane@exa\u00admple.com", // soft hyphen inside the domain
		"jane﹫example.com",       // small commercial at
		"jane@example。com",       // ideographic full stop
	)
	wantBenign(t, "100%40 done", "%40mention", "user%40", "50% at noon")
}

func TestEmailBounded(t *testing.T) {
	// An address literal is at most maxDomainLiteral bytes: a '[' after
	// an '@' with no ']' nearby is not searched to the end.
	long := "a@[" + strings.Repeat("1", 1000) + "]"
	wantBenign(t, long)
	wantKind(t, KindEmail, "admin@[192.0.2.10]", "x@[IPv6:2001:db8::1]")
	// Spaces inside a bracketed separator are bounded too.
	wantKind(t, KindEmail, "jane [ at ] example [ dot ] org")
	wantBenign(t, "jane ["+strings.Repeat(" ", 50)+"at] example [dot] org")
}
