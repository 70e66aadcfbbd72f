package sdk

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/veil-telemetry/veil/ohttp"
	"github.com/veil-telemetry/veil/ohttp/signedkeys"
)

var (
	// ErrKeyPinRequired is returned by New for a Config without KeyPin
	// whose RelayURL or KeysURL is not on loopback, unless
	// InsecureNoKeyPin is set.
	ErrKeyPinRequired = errors.New("veil: Config.KeyPin is required for a relay that is not on loopback")
	// ErrInsecureURL is returned by New for an http:// RelayURL or KeysURL
	// to a host that is not on loopback, unless InsecureHTTP is set.
	ErrInsecureURL = errors.New("veil: plain http:// URL to a host that is not on loopback")
	// ErrInvalidKeyPin is returned by New for a KeyPin that is not a key
	// pin: "veil-pin-ed25519:" and 43 base64url characters, nothing
	// around them. The error also matches signedkeys.ErrInvalidPin.
	ErrInvalidKeyPin = errors.New("veil: Config.KeyPin is not a key pin")
)

// Where on the relay's origin the Client fetches the key document when
// Config.KeysURL is empty: the plain document without a KeyPin, the signed
// one with it.
const (
	KeysPath       = "/ohttp-keys"
	SignedKeysPath = signedkeys.DefaultPath
)

// defaultKeysPath is where the key document is fetched on the relay's
// origin: the signed document when a pin will check it.
func defaultKeysPath(pinned bool) string {
	if pinned {
		return SignedKeysPath
	}
	return KeysPath
}

// resolveKeyTrust parses KeyPin and applies the rules on pins and plain
// HTTP (see Config.KeyPin, Config.InsecureHTTP).
func (r *config) resolveKeyTrust() error {
	for _, f := range []struct {
		name string
		u    *url.URL
	}{{"RelayURL", r.relayURL}, {"KeysURL", r.keysURL}} {
		if f.u.Scheme == "http" && !loopback(f.u) && !r.InsecureHTTP {
			return fmt.Errorf("%w: Config.%s %s: anyone on the network path could watch, block or impersonate the relay; use https://, or set Config.InsecureHTTP to accept that",
				ErrInsecureURL, f.name, f.u.Redacted())
		}
	}
	if r.KeyPin != "" {
		p, err := signedkeys.ParsePin(r.KeyPin)
		if err != nil {
			return fmt.Errorf("%w: %w (copy it whole from `veil admin keys pin`)", ErrInvalidKeyPin, err)
		}
		r.pin = &p
		return nil
	}
	if r.InsecureNoKeyPin || (loopback(r.relayURL) && loopback(r.keysURL)) {
		return nil
	}
	return fmt.Errorf("%w: without it the relay could hand out keys of its own and read every event. "+
		"Get the pin with `veil admin keys pin` on the collector and set Config.KeyPin to it, "+
		"or set Config.InsecureNoKeyPin to accept the risk", ErrKeyPinRequired)
}

// loopback reports whether u's host is this machine: "localhost" or a
// loopback IP literal. Names are not resolved.
func loopback(u *url.URL) bool {
	h := u.Hostname()
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// maxConfigsPerKEM is how many configurations of one KEM a key document
// may offer: the current key and the one it replaced, still published
// while cached documents naming it expire. More would let a gateway hand
// each group of clients a key of its own and tell them apart by the key
// they use (RFC 9458 §7), so such a document is refused whole.
const maxConfigsPerKEM = 2

// checkTagging refuses a key document with more than maxConfigsPerKEM
// configurations of one KEM.
func checkTagging(cfgs []*ohttp.KeyConfig) error {
	n := map[ohttp.KEMID]int{}
	for _, c := range cfgs {
		n[c.KEM]++
		if n[c.KEM] > maxConfigsPerKEM {
			return fmt.Errorf("more than %d configurations for KEM %s: a document like this could single out clients, so it is refused",
				maxConfigsPerKEM, c.KEM)
		}
	}
	return nil
}

// authenticateKeys checks a fetched key document against Config.KeyPin
// and returns the application/ohttp-keys bytes the pinned key signed.
func (c *Client) authenticateKeys(mediaType string, body []byte) ([]byte, error) {
	switch {
	case mediaType == ohttp.KeysMediaType:
		return nil, &unauthenticated{signedkeys.ErrNotSigned, fmt.Sprintf(
			"no signature: got an unsigned %s document, but with Config.KeyPin the keys must come from the signed document (%s on the relay's origin; check KeysURL)",
			ohttp.KeysMediaType, signedkeys.DefaultPath)}
	case mediaType != signedkeys.MediaType:
		return nil, &unauthenticated{signedkeys.ErrNotSigned, fmt.Sprintf("no signature: content type %q, want %s", mediaType, signedkeys.MediaType)}
	case len(body) > signedkeys.MaxLength:
		return nil, &unauthenticated{signedkeys.ErrMalformed, fmt.Sprintf("signed document larger than %d bytes", signedkeys.MaxLength)}
	}
	keys, err := signedkeys.Verify(body, *c.cfg.pin)
	if fe, ok := errors.AsType[*signedkeys.FormatError](err); ok {
		return nil, &unauthenticated{fe, "malformed signed document: " + fe.Reason}
	}
	return keys, err
}

// unauthenticated is why a key document was refused, worded for a
// DeliveryError; it matches its cause with errors.Is.
type unauthenticated struct {
	cause error
	text  string
}

func (e *unauthenticated) Error() string { return "key document not authenticated: " + e.text }
func (e *unauthenticated) Unwrap() error { return e.cause }
