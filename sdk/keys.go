package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/veil-telemetry/veil/ohttp"
	"github.com/veil-telemetry/veil/ohttp/signedkeys"
)

const (
	// maxKeysBytes bounds a key document. A handful of configs, each a few
	// hundred bytes (an X-Wing public key is 1216), fits many times over.
	maxKeysBytes = 64 << 10
	// Bounds on how long fetched keys are trusted, whatever the document's
	// Cache-Control says: at least a minute, so a max-age of 0 does not
	// double every request; at most a day, so a rotation is seen soon.
	minKeysAge     = time.Minute
	maxKeysAge     = 24 * time.Hour
	defaultKeysAge = time.Hour
)

// ErrKeyConfig reports a key document that could not be used: malformed
// (refused whole, RFC 9458 §3.2), of the wrong media type, or offering no
// key and suite the Client supports. It is the class of a DeliveryError
// (see ErrUnreachable for the others).
var ErrKeyConfig = errors.New("veil: unusable gateway key configuration")

// keyCache holds the key configuration the sender encapsulates to. Only the
// sender goroutine uses it.
type keyCache struct {
	cfg     *ohttp.KeyConfig
	suite   ohttp.SymmetricSuite
	expires time.Time
}

func (k *keyCache) invalidate() { k.cfg = nil }

// key returns the cached key configuration, fetching the key document when
// there is none or it has expired.
func (c *Client) key(ctx context.Context) (*ohttp.KeyConfig, ohttp.SymmetricSuite, error) {
	now := c.cfg.clock.Now()
	if c.keys.cfg != nil && now.Before(c.keys.expires) {
		return c.keys.cfg, c.keys.suite, nil
	}
	cfg, suite, age, err := c.fetchKeys(ctx)
	if err != nil {
		return nil, ohttp.SymmetricSuite{}, err
	}
	c.keys = keyCache{cfg: cfg, suite: suite, expires: now.Add(age)}
	c.cfg.Logger.Debug("veil: gateway keys fetched", "key_id", cfg.KeyID, "kem", cfg.KEM.String(), "suite", suite.String(), "max_age", age)
	return cfg, suite, nil
}

// fetchKeys GETs the key document, parses it and picks the configuration
// to encapsulate to (selectKey). Every error is a *DeliveryError.
func (c *Client) fetchKeys(ctx context.Context) (*ohttp.KeyConfig, ohttp.SymmetricSuite, time.Duration, error) {
	var none ohttp.SymmetricSuite
	u := c.cfg.keysURL.String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, none, 0, &DeliveryError{Op: OpFetchKeys, URL: u, Err: err}
	}
	mediaType, limit := ohttp.KeysMediaType, maxKeysBytes
	if c.cfg.pin != nil {
		mediaType, limit = signedkeys.MediaType, signedkeys.MaxLength
	}
	req.Header.Set("Accept", mediaType)
	req.Header.Set("User-Agent", "") // send none: it would only add to what the relay can tell apart
	c.stats.keyFetches.Add(1)
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, none, 0, transportError(OpFetchKeys, u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return nil, none, 0, transportError(OpFetchKeys, u, err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &DeliveryError{Op: OpFetchKeys, URL: u, Status: resp.StatusCode,
			retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), c.cfg.clock.Now())}
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && !retryableStatus(resp.StatusCode) {
			e.class = ErrKeysRefused
		}
		return nil, none, 0, e
	}
	keyConfigError := func(err error) error {
		return &DeliveryError{Op: OpFetchKeys, URL: u, Err: fmt.Errorf("unusable key document: %w", err), class: ErrKeyConfig}
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if c.cfg.pin != nil {
		// Authenticate first: nothing of an unauthenticated document is
		// used, not even to say what is wrong with its keys.
		if body, err = c.authenticateKeys(mt, body); err != nil {
			return nil, none, 0, &DeliveryError{Op: OpFetchKeys, URL: u, Err: err, class: ErrKeysUnauthenticated}
		}
	} else {
		if err != nil || mt != ohttp.KeysMediaType {
			return nil, none, 0, keyConfigError(fmt.Errorf("content type %q, want %s", resp.Header.Get("Content-Type"), ohttp.KeysMediaType))
		}
		if len(body) > maxKeysBytes {
			return nil, none, 0, keyConfigError(fmt.Errorf("document larger than %d bytes", maxKeysBytes))
		}
	}
	cfgs, err := ohttp.ParseKeyConfigs(body)
	if err != nil {
		return nil, none, 0, keyConfigError(err)
	}
	if err := checkTagging(cfgs); err != nil {
		return nil, none, 0, keyConfigError(err)
	}
	cfg, suite, ok := selectKey(cfgs, c.cfg.PostQuantum)
	if !ok {
		return nil, none, 0, keyConfigError(errors.New("no supported key and suite offered"))
	}
	return cfg, suite, keysMaxAge(resp.Header.Get("Cache-Control")), nil
}

// selectKey picks the configuration to encapsulate to: X-Wing when
// postQuantum is set and it is offered, else X25519, else the first
// supported one; and with it the default suite if listed, else the first
// supported suite.
func selectKey(cfgs []*ohttp.KeyConfig, postQuantum bool) (*ohttp.KeyConfig, ohttp.SymmetricSuite, bool) {
	prefs := []ohttp.KEMID{ohttp.KEMX25519}
	if postQuantum {
		prefs = []ohttp.KEMID{ohttp.KEMXWing, ohttp.KEMX25519}
	}
	var fallback *ohttp.KeyConfig
	var fallbackSuite ohttp.SymmetricSuite
	for _, kem := range prefs {
		for _, cfg := range cfgs {
			if cfg.KEM != kem {
				continue
			}
			if s, ok := selectSuite(cfg); ok {
				return cfg, s, true
			}
		}
	}
	for _, cfg := range cfgs {
		if s, ok := selectSuite(cfg); ok && fallback == nil {
			fallback, fallbackSuite = cfg, s
		}
	}
	return fallback, fallbackSuite, fallback != nil
}

func selectSuite(cfg *ohttp.KeyConfig) (ohttp.SymmetricSuite, bool) {
	for _, s := range cfg.Suites {
		if s == ohttp.DefaultSuite {
			return s, true
		}
	}
	for _, s := range cfg.Suites {
		if supportedSuite(s) {
			return s, true
		}
	}
	return ohttp.SymmetricSuite{}, false
}

// supportedSuite reports whether ohttp implements s; key configs may list
// suites it does not know, which it keeps for the caller to skip.
func supportedSuite(s ohttp.SymmetricSuite) bool {
	switch s.KDF {
	case ohttp.KDFHKDFSHA256, ohttp.KDFHKDFSHA384, ohttp.KDFHKDFSHA512:
	default:
		return false
	}
	switch s.AEAD {
	case ohttp.AEADAES128GCM, ohttp.AEADAES256GCM, ohttp.AEADChaCha20Poly1305:
		return true
	}
	return false
}

// keysMaxAge reads max-age from a Cache-Control header, clamped to
// [minKeysAge, maxKeysAge]; defaultKeysAge when absent.
func keysMaxAge(cc string) time.Duration {
	age := defaultKeysAge
	for _, d := range strings.Split(cc, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "max-age":
			if secs, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64); err == nil && secs >= 0 {
				age = time.Duration(min(secs, int64(maxKeysAge/time.Second))) * time.Second
			}
		case "no-store", "no-cache":
			age = 0
		}
	}
	return min(max(age, minKeysAge), maxKeysAge)
}
