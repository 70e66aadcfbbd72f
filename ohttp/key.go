package ohttp

import (
	"bytes"
	"io"
	"log/slog"
	"slices"
	"strconv"
)

// PrivateKey is a gateway key: its public configuration and the KEM private
// key, parsed once and kept ready for DecapsulateRequest. A PrivateKey is
// safe for concurrent use. Config must not be modified after construction;
// DecapsulateRequest uses the suites and key identifier it was built with.
type PrivateKey struct {
	Config KeyConfig

	secret []byte
	sk     kemPrivateKey
	nenc   int
	suites []keySuite
}

// keySuite is everything per-request work needs for one offered suite,
// computed once per key. info is shared by concurrent requests and only
// ever read (circl copies it before appending).
type keySuite struct {
	sym  SymmetricSuite
	hs   hpkeSuite
	info []byte
}

// GenerateKey creates a key for kem offering suites, deriving it from a seed
// read from rand (nil means crypto/rand). Every suite must be supported.
func GenerateKey(rand io.Reader, keyID uint8, kem KEMID, suites []SymmetricSuite) (*PrivateKey, error) {
	if _, err := checkKEM(kem); err != nil {
		return nil, err
	}
	secret, public, err := generateKEMKey(rand, kem)
	if err != nil {
		return nil, err
	}
	return NewPrivateKey(KeyConfig{KeyID: keyID, KEM: kem, PublicKey: public, Suites: suites}, secret)
}

// NewPrivateKey rebuilds a key from its configuration and the serialized
// private key returned by Secret. It fails with ErrInvalidKey if secret is
// not a private key of cfg.KEM or does not match cfg.PublicKey. Every suite
// of cfg must be supported. cfg and secret are copied.
func NewPrivateKey(cfg KeyConfig, secret []byte) (*PrivateKey, error) {
	cfg.PublicKey = slices.Clone(cfg.PublicKey)
	cfg.Suites = slices.Clone(cfg.Suites)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p, _ := lookupKEM(cfg.KEM)
	sk, public, err := parseKEMPrivateKey(cfg.KEM, secret)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(public, cfg.PublicKey) {
		return nil, ErrInvalidKey
	}
	k := &PrivateKey{
		Config: cfg,
		secret: slices.Clone(secret),
		sk:     sk,
		nenc:   p.nenc,
		suites: make([]keySuite, 0, len(cfg.Suites)),
	}
	for _, s := range cfg.Suites {
		if slices.ContainsFunc(k.suites, func(ks keySuite) bool { return ks.sym == s }) {
			continue
		}
		hs, err := newHPKESuite(cfg.KEM, s)
		if err != nil {
			return nil, err
		}
		k.suites = append(k.suites, keySuite{
			sym:  s,
			hs:   hs,
			info: slices.Clip(requestInfo(cfg.KeyID, cfg.KEM, s)),
		})
	}
	return k, nil
}

// Secret returns a copy of the serialized KEM private key, for sealing at
// rest and for NewPrivateKey.
//
// Warning: the result is the gateway's secret. Never log it or store it
// unencrypted.
func (k *PrivateKey) Secret() []byte {
	return slices.Clone(k.secret)
}

// LogValue implements slog.LogValuer. It shows the public configuration
// only.
func (k *PrivateKey) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("key_id", int(k.Config.KeyID)),
		slog.String("kem", k.Config.KEM.String()),
		slog.String("secret", "REDACTED"),
	)
}

// String shows the public configuration only, so that formatting a key
// with fmt cannot print its secret.
func (k *PrivateKey) String() string {
	return "ohttp.PrivateKey{key_id: " + strconv.Itoa(int(k.Config.KeyID)) + ", kem: " + k.Config.KEM.String() + ", secret: REDACTED}"
}

// GoString is String, for %#v.
func (k *PrivateKey) GoString() string { return k.String() }

// DecapsulateRequest decrypts req (RFC 9458 §4.3) and returns the Binary
// HTTP request with the context for the response. A request for another key
// identifier or KEM yields ErrKeyMismatch and one with a suite this key does
// not offer ErrSuiteNotOffered; every cryptographic failure yields
// ErrDecrypt, whichever check failed.
func (k *PrivateKey) DecapsulateRequest(req *EncapsulatedRequest) ([]byte, *ServerContext, error) {
	if req == nil {
		return nil, nil, formatError("encapsulated request", "nil request")
	}
	if req.KeyID != k.Config.KeyID || req.KEM != k.Config.KEM {
		return nil, nil, ErrKeyMismatch
	}
	var ks *keySuite
	for i := range k.suites {
		if k.suites[i].sym == req.Suite() {
			ks = &k.suites[i]
			break
		}
	}
	if ks == nil {
		return nil, nil, ErrSuiteNotOffered
	}
	if len(req.Enc) != k.nenc {
		return nil, nil, formatError("encapsulated request", "encapsulated key has the wrong length")
	}
	pt, exp, err := ks.hs.open(k.sk, ks.info, req.Enc, req.Ciphertext)
	if err != nil {
		return nil, nil, ErrDecrypt
	}
	rc, err := newResponseContext(ks.sym, req.Enc, exp)
	if err != nil {
		return nil, nil, err
	}
	return pt, &ServerContext{rc}, nil
}
