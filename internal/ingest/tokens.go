package ingest

import (
	"context"
	"time"

	"github.com/veil-telemetry/veil/internal/problem"
	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/storage"
)

// TokenCheck is the gateway's verdict on a request's Privacy Pass token
// (issue 21), put in the inner request's context with WithTokenCheck
// before dispatch. It never holds the token itself.
type TokenCheck struct {
	// Verified: the token's key, window and authenticator check out; its
	// spend (Window, Hash) is claimed with the batch.
	Verified bool
	// Reason is why an unverified token would be refused, for metrics
	// only (privacypass.Reason values).
	Reason string
	// Window is the start of the redemption window the token was issued
	// for; Hash a keyed hash of its nonce.
	Window time.Time
	Hash   []byte
	// Challenge is the WWW-Authenticate value of every refusal: the same
	// bytes whatever failed (RFC 9577 §2.2).
	Challenge string
	// Observe, if set, counts a token result ("verified" or a reason).
	Observe func(result string)
}

type tokenCheckKey struct{}

// WithTokenCheck returns ctx carrying c.
func WithTokenCheck(ctx context.Context, c TokenCheck) context.Context {
	return context.WithValue(ctx, tokenCheckKey{}, &c)
}

// tokenCheckFrom returns the request's check; a request that did not come
// through a gateway with tokens configured has none (refused where a
// schema requires tokens).
func tokenCheckFrom(ctx context.Context) *TokenCheck {
	c, _ := ctx.Value(tokenCheckKey{}).(*TokenCheck)
	if c == nil {
		return &TokenCheck{Reason: "missing"}
	}
	return c
}

func (c *TokenCheck) observe(result string) {
	if c.Observe != nil {
		c.Observe(result)
	}
}

// UnverifiedDimension marks the records of untokened batches of schemas
// whose token policy is "optional": the "unverified" stream, kept apart in
// the rollups (a dimension set of its own) so that releases can exclude
// it unless the operator includes it.
const UnverifiedDimension = storage.UnverifiedDimension

// Results and error reasons of token refusals.
const (
	ResultTokenRefused      = "token_refused"
	ErrorReasonTokenRefused = "token_required"
)

var errTokenRefused = requestError{problem.Unauthenticated, ErrorReasonTokenRefused}

// tokenPolicy is what a batch's schemas ask of its token.
type tokenPolicy struct {
	required, optional bool
	overCap            bool // a schema's token_batch_events is exceeded
}

func policyOf(schemas map[schemaKey]schemaEntry, perSchema map[schemaKey]int) tokenPolicy {
	var p tokenPolicy
	for k, e := range schemas {
		if e.s == nil {
			continue
		}
		switch e.s.Tokens {
		case schema.TokensRequired:
			p.required = true
		case schema.TokensOptional:
			p.optional = true
		default:
			continue
		}
		if c := e.s.TokenBatchEvents; c > 0 && perSchema[k] > c {
			p.overCap = true
		}
	}
	return p
}

// tokenClaim is the storage claim of a verified check.
func (c *TokenCheck) claim(now time.Time) storage.Claim {
	return storage.TokenClaim(c.Window, c.Hash, now)
}

// tokenChallengeFor is the WWW-Authenticate challenge of the request's
// token check, if there was one.
func tokenChallengeFor(ctx context.Context) string {
	c, _ := ctx.Value(tokenCheckKey{}).(*TokenCheck)
	if c == nil {
		return ""
	}
	return c.Challenge
}
