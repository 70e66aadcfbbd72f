package ohttp

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"hash"
	"io"
	"slices"
)

// Labels of RFC 9458 §4.4.
const (
	responseExportLabel = "message/bhttp response"
	responseKeyLabel    = "key"
	responseNonceLabel  = "nonce"
)

// responseContext is what both ends keep from the request to protect the
// response: the suite, the request's enc and the exported secret.
type responseContext struct {
	suite  SymmetricSuite
	aead   aeadParams
	enc    []byte
	secret []byte
}

// newResponseContext exports secret = Export("message/bhttp response",
// max(Nn, Nk)) from the request's HPKE context and copies enc, so the
// context does not alias the request buffer.
func newResponseContext(s SymmetricSuite, enc []byte, exp exporter) (responseContext, error) {
	p, ok := lookupAEAD(s.AEAD)
	if !ok {
		return responseContext{}, &UnsupportedError{Kind: "AEAD", ID: uint16(s.AEAD)}
	}
	return responseContext{
		suite:  s,
		aead:   p,
		enc:    slices.Clone(enc),
		secret: exp.export([]byte(responseExportLabel), p.responseNonceSize()),
	}, nil
}

// aeadFor derives the response AEAD key and nonce (RFC 9458 §4.4):
//
//	salt = concat(enc, response_nonce)
//	prk = Extract(salt, secret)
//	aead_key = Expand(prk, "key", Nk)
//	aead_nonce = Expand(prk, "nonce", Nn)
func (c *responseContext) aeadFor(responseNonce []byte) (_ cipher.AEAD, aeadNonce []byte, _ error) {
	h, ok := kdfHash(c.suite.KDF)
	if !ok {
		return nil, nil, &UnsupportedError{Kind: "KDF", ID: uint16(c.suite.KDF)}
	}
	salt := make([]byte, 0, len(c.enc)+len(responseNonce))
	salt = append(append(salt, c.enc...), responseNonce...)
	prk, err := hkdf.Extract(h, c.secret, salt)
	if err != nil {
		return nil, nil, err
	}
	// Nk and Nn never exceed the hash size, so each Expand is the single
	// block T(1) = HMAC(prk, info ‖ 0x01) of RFC 5869 §2.3. One HMAC
	// serves both, which halves the allocations of calling hkdf.Expand
	// twice; a test checks the result against hkdf.Expand.
	mac := hmac.New(h, prk)
	key := expandOneBlock(mac, responseKeyLabel, c.aead.nk)
	nonce := expandOneBlock(mac, responseNonceLabel, c.aead.nn)
	a, err := newAEAD(c.suite.AEAD, key)
	clear(key)
	clear(prk)
	if err != nil {
		return nil, nil, err
	}
	return a, nonce, nil
}

// expandOneBlock is HKDF-Expand(prk, info, n) for n at most the hash size,
// with mac keyed by prk.
func expandOneBlock(mac hash.Hash, info string, n int) []byte {
	mac.Reset()
	buf := make([]byte, 0, max(mac.Size(), len(info)+1))
	buf = append(append(buf, info...), 1)
	mac.Write(buf)
	return mac.Sum(buf[:0])[:n:n]
}

// ServerContext is the gateway's state between decapsulating a request and
// encapsulating its response. It is safe for concurrent use.
type ServerContext struct {
	rc responseContext
}

// EncapsulateResponse encrypts the Binary HTTP response msg (RFC 9458 §4.4),
// reading the response nonce from rand (nil means crypto/rand), and returns
// the message/ohttp-res body:
//
//	Encapsulated Response {
//	  Nonce (8 * max(Nn, Nk)),
//	  AEAD-Protected Response (..),
//	}
func (s *ServerContext) EncapsulateResponse(rand io.Reader, msg []byte) ([]byte, error) {
	n := s.rc.aead.responseNonceSize()
	out := make([]byte, n, n+len(msg)+aeadTagSize)
	if err := readRandom(rand, out); err != nil {
		return nil, err
	}
	a, nonce, err := s.rc.aeadFor(out)
	if err != nil {
		return nil, err
	}
	return a.Seal(out, nonce, msg, nil), nil
}

// ClientContext is the client's state between encapsulating a request and
// decapsulating its response. It is safe for concurrent use.
type ClientContext struct {
	rc responseContext
}

// DecapsulateResponse decrypts a message/ohttp-res body (see
// ServerContext.EncapsulateResponse). A body too short to hold a nonce and
// an AEAD tag yields a *FormatError; any other failure yields ErrDecrypt.
func (c *ClientContext) DecapsulateResponse(encRes []byte) ([]byte, error) {
	n := c.rc.aead.responseNonceSize()
	if len(encRes) < n+aeadTagSize {
		return nil, formatError("encapsulated response", "shorter than nonce and AEAD tag")
	}
	a, nonce, err := c.rc.aeadFor(encRes[:n:n])
	if err != nil {
		return nil, err
	}
	pt, err := a.Open(nil, nonce, encRes[n:], nil)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

func readRandom(r io.Reader, b []byte) error {
	if r == nil {
		r = rand.Reader
	}
	_, err := io.ReadFull(r, b)
	return err
}
