// Package issuer is veil's reference Privacy Pass issuer (`veil issuer`):
// RFC 9578 §6 issuance of publicly verifiable tokens (type 0x0002) with a
// blind-RSA key generated per epoch, the issuer directory of RFC 9578 §4,
// and an attester in front of it that bounds issuance per credential per
// window (quota T, 429 past it).
//
// The recommended deployment makes the app's backend the joint attester
// and issuer (it knows its devices) and veil the origin, holding only the
// issuer's public keys: issuance is blind, so the issuer cannot link a
// token it signed to the batch that spends it, and the gateway learns only
// that some attested client spent one token.
//
// Key consistency: one key per epoch; the directory lists the current key
// and, while tokens signed with it may still be redeemed, the previous one
// — never more than two, which clients check.
//
// Routes:
//
//	GET  /.well-known/private-token-issuer-directory   the directory
//	POST /token-request                                issuance (RFC 9578 §6.1–6.2)
//
// veil extends issuance to a batch: the body may concatenate up to
// privacypass.MaxBatch TokenRequests and the answer concatenates as many
// TokenResponses, in order — fewer when the credential's quota runs out
// mid-batch, so a client fetches its window's tokens in one round trip.
package issuer
