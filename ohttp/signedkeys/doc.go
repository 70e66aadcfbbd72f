// Package signedkeys is veil's signed key document: the gateway's
// application/ohttp-keys document (RFC 9458 §3.2), byte for byte, with
// Ed25519 signatures over it, so that a client fetching the keys through a
// relay can tell the gateway's keys from keys the relay substituted.
//
// Fetching keys through the relay gives key consistency against the
// gateway (RFC 9458 §7: the relay's shared cache hands every client the
// same document, so the gateway cannot tag one client with a key of its
// own). It gives nothing against the relay, which could serve a key of its
// own, decrypt every request, read it and re-encrypt it to the gateway.
// The signature closes that: the gateway holds a long-term Ed25519 signing
// key, an app ships its public half as a key pin (Pin), and the client
// uses a key document only when a signature by the pinned key verifies
// over its exact bytes (Verify).
//
// The signed document is one self-contained resource, so it survives
// relays and caches that keep only the body and its media type; a relay
// caches and serves it as opaque bytes, next to the plain document.
//
// The package does no I/O and logs nothing. Its wire format:
//
//	Signed Key Document {
//	  Version (8) = 1,
//	  Key Document Length (32) = 1..MaxKeyDocumentLength,
//	  Key Document (8 * Key Document Length),
//	  Signature Count (8) = 1..MaxSignatures,
//	  Key Signature (..) ...,
//	}
//
//	Key Signature {
//	  Signature Scheme (16),
//	  Public Key Length (16) = 1..MaxPublicKeyLength,
//	  Public Key (8 * Public Key Length),
//	  Signature Length (16) = 1..MaxSignatureLength,
//	  Signature (8 * Signature Length),
//	}
//
// Key Document is the application/ohttp-keys document exactly as the
// gateway publishes it. The only Signature Scheme defined is Ed25519
// (0x0807, the TLS SignatureScheme code, RFC 8446 §4.2.3), with a 32-byte
// public key and a 64-byte signature over
//
//	"veil signed ohttp-keys v1" || 0x00 || Key Document
//
// (RFC 8032 §5.1.6, pure Ed25519; the prefix keeps the signing key from
// ever producing a signature that means anything else). Signatures of
// other schemes are kept by Parse and skipped by Verify, so a later
// scheme can be added beside Ed25519 without breaking clients. No two
// signatures may name the same scheme and public key, and nothing may
// follow the last one: each document has one encoding.
//
// Several signatures let the signing key rotate without breaking apps in
// the field: during a rotation the gateway signs with the current and the
// next key, so apps pinned to either accept the document.
package signedkeys
