// Package ohttp implements Oblivious HTTP (RFC 9458): key configurations and
// the application/ohttp-keys list (§3), request encapsulation by the client
// and decapsulation by the gateway (§4.3), and response encapsulation by the
// gateway and decapsulation by the client (§4.4).
//
// HPKE (RFC 9180) comes from github.com/cloudflare/circl; only hpke.go talks
// to it. The package does no I/O and logs nothing. Every algorithm identifier
// read from the wire is checked against the suites listed in suite.go before
// circl is asked for it, because circl panics on identifiers it does not know.
//
// A client fetches the gateway's key configurations, calls
// [EncapsulateRequest] with a Binary HTTP request (RFC 9292), sends the result
// as [RequestMediaType] and decrypts the answer with
// [ClientContext.DecapsulateResponse]. A gateway calls
// [ParseEncapsulatedRequest], picks its [PrivateKey] by the request's key
// identifier, calls [PrivateKey.DecapsulateRequest] and answers with
// [ServerContext.EncapsulateResponse].
//
// All decryption failures are reported as the single opaque [ErrDecrypt], so
// callers cannot reveal which cryptographic check failed (RFC 9458 §6.4).
// Randomness is read from an injected io.Reader (nil means crypto/rand), which
// lets tests reproduce the RFC 9458 Appendix A vector byte for byte.
package ohttp
