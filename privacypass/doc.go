// Package privacypass holds the Privacy Pass wire formats and crypto veil
// uses to bound each attested device's contribution without learning who
// it is: the TokenChallenge and Token of RFC 9577 (the PrivateToken HTTP
// authentication scheme), the publicly verifiable issuance protocol of
// RFC 9578 §6 (token type 0x0002, blind RSA per RFC 9474 with SHA-384,
// PSS and a 48-byte salt, deterministic variant), the issuer directory of
// RFC 9578 §4, and the RSASSA-PSS SubjectPublicKeyInfo whose SHA-256 is the
// token_key_id.
//
// Wire codecs (challenge.go, token.go, request.go, directory.go,
// header.go, spki.go) do no I/O and log nothing; every decoder checks each
// length against what remains and fails with a *FormatError (which wraps
// ErrMalformed). blindrsa.go is the one file that talks to circl.
//
// The verifier (verifier.go) answers one opaque ErrInvalidToken for every
// reason a token cannot be redeemed, and reports the reason separately for
// metrics only, so a caller cannot build an oracle from its answers.
package privacypass
