package admin

import (
	"context"
	"fmt"

	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/ohttp"
)

// LiveKeys is the key ring as the gateway reads it (gateway.KeyStore):
// every key that still decrypts at the admin clock's now, with its
// recorded life, which the gateway reads with keystate.Life.At on every
// request. Storage keeps the ring but cannot parse key configurations;
// the gateway parses them but cannot reach the database: the admin plane,
// which owns the key lifecycle, joins the two.
func (s *Server) LiveKeys(ctx context.Context) ([]gateway.Key, error) {
	recs, err := s.cfg.DB.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	out := make([]gateway.Key, 0, len(recs))
	for _, r := range recs {
		if !r.Life().At(now).Decrypts() {
			continue
		}
		cfg, err := ohttp.ParseKeyConfig(r.Config)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", r.ID, err)
		}
		priv, err := ohttp.NewPrivateKey(*cfg, r.Secret)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", r.ID, err)
		}
		out = append(out, gateway.Key{Private: priv, State: r.State, DrainAfter: r.DrainAfter, RetireAfter: r.RetireAfter})
	}
	return out, nil
}
