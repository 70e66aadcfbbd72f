package privacypass

// This is the only file that talks to circl (STYLE rule 8). RFC 9578 §6
// uses RSABSSA-SHA384-PSS-Deterministic of RFC 9474: the message is signed
// as given (no prepare prefix), with a 48-byte PSS salt.

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"

	"github.com/cloudflare/circl/blindsign/blindrsa"
)

// SaltSize is the PSS salt length of token type 0x0002.
const SaltSize = 48

var pssOptions = &rsa.PSSOptions{SaltLength: SaltSize, Hash: crypto.SHA384}

// errBlind is the one error the blind-RSA steps return: circl's errors may
// name which check failed, and none of that is for a peer.
var errBlind = errors.New("privacypass: blind signature failed")

// blindState is what a client keeps between its TokenRequest and the
// issuer's TokenResponse.
type blindState struct {
	state blindrsa.State
}

func newBlindClient(pk *rsa.PublicKey) (blindrsa.Client, error) {
	if pk == nil || pk.N == nil || pk.N.BitLen() != ModulusBits {
		return blindrsa.Client{}, errBlind
	}
	c, err := blindrsa.NewClient(blindrsa.SHA384PSSDeterministic, pk)
	if err != nil {
		return blindrsa.Client{}, errBlind
	}
	return c, nil
}

// blind reads the salt and then the blind from rnd (nil means crypto/rand),
// the order RFC 9474 §4.1 uses, so the RFC 9578 vectors replay exactly.
func blind(rnd io.Reader, pk *rsa.PublicKey, msg []byte) ([]byte, blindState, error) {
	c, err := newBlindClient(pk)
	if err != nil {
		return nil, blindState{}, err
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	out, st, err := c.Blind(rnd, msg)
	if err != nil {
		return nil, blindState{}, errBlind
	}
	return out, blindState{st}, nil
}

// finalize unblinds the issuer's signature and checks it against msg.
func finalize(pk *rsa.PublicKey, st blindState, blindSig []byte) ([]byte, error) {
	c, err := newBlindClient(pk)
	if err != nil {
		return nil, err
	}
	sig, err := c.Finalize(st.state, blindSig)
	if err != nil {
		return nil, errBlind
	}
	return sig, nil
}

// blindSign is the issuer's RSA operation on a blinded message.
func blindSign(sk *rsa.PrivateKey, blinded []byte) ([]byte, error) {
	if sk == nil || sk.N.BitLen() != ModulusBits || len(blinded) != AuthenticatorSize {
		return nil, errBlind
	}
	sig, err := blindrsa.NewSigner(sk).BlindSign(blinded)
	if err != nil {
		return nil, errBlind
	}
	return sig, nil
}

// verifySignature checks an authenticator with crypto/rsa (RSASSA-PSS,
// SHA-384, salt 48): a token's signature is an ordinary PSS signature.
func verifySignature(pk *rsa.PublicKey, msg, sig []byte) bool {
	h := crypto.SHA384.New()
	h.Write(msg)
	return rsa.VerifyPSS(pk, crypto.SHA384, h.Sum(nil), sig, pssOptions) == nil
}
