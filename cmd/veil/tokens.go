package main

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/veil-telemetry/veil/internal/config"
	"github.com/veil-telemetry/veil/internal/ingest"
	"github.com/veil-telemetry/veil/internal/redeem"
	"github.com/veil-telemetry/veil/internal/schema"
)

// tokenWiring connects Privacy Pass redemption (package redeem) to the
// gateway and the schema registry.
type tokenWiring struct {
	r   *redeem.Redeemer
	log *slog.Logger
}

func setupTokens(c config.Serve, reg prometheus.Registerer, logger *slog.Logger) (*tokenWiring, error) {
	secret, err := redeem.LoadOrCreateSecret(c.TokenSecretFile)
	if err != nil {
		return nil, err
	}
	r, err := redeem.New(redeem.Config{Secret: secret, Window: c.TokenWindow, IssuerRequestURI: c.TokenIssuer, Registerer: reg})
	if err != nil {
		return nil, err
	}
	if len(c.TokenIssuerKeys) > 0 {
		keys, err := redeem.LoadKeyFiles(c.TokenIssuerKeys)
		if err != nil {
			return nil, err
		}
		if err := r.SetKeys(keys); err != nil {
			return nil, err
		}
	}
	if len(c.TokenIssuerKeys) == 0 && c.TokenIssuer == "" {
		logger.Warn("no Privacy Pass issuer key configured (--token-issuer-key, --token-issuer): every batch for a schema whose x-veil.tokens is \"required\" is answered 401")
	}
	return &tokenWiring{r: r, log: logger}, nil
}

// withToken is the gateway's WithToken hook.
func (t *tokenWiring) withToken(ctx context.Context, authorization string) context.Context {
	return ingest.WithTokenCheck(ctx, t.r.Check(authorization))
}

// warnIfUnkeyed warns when a schema requiring tokens is registered while
// no issuer key is configured.
func (t *tokenWiring) warnIfUnkeyed(ctx context.Context, registry *schema.Registry, name string, version int) {
	if t.r.HasKeys() {
		return
	}
	if s, err := registry.Get(ctx, name, version); err == nil && s.Tokens == schema.TokensRequired {
		t.log.Warn("schema requires Privacy Pass tokens but no issuer key is configured: its batches are answered 401",
			"schema", name, "version", version)
	}
}
