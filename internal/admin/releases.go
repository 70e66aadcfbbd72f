package admin

import (
	"cmp"
	"context"
	"errors"

	"github.com/veil-telemetry/veil/internal/dp"
	"github.com/veil-telemetry/veil/internal/release"
	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/storage"
)

// noisePool is how many noise draws the pool keeps per scale.
const noisePool = 256

// newReleaser builds the default releaser: releases over the rollups,
// noise from a pool that a goroutine fills until Close.
func (s *Server) newReleaser() error {
	pool := dp.NewPool(s.cfg.Rand, noisePool)
	mix := cmp.Or(s.cfg.MixInterval, storage.DefaultMixInterval)
	ctx, stop := context.WithCancel(context.Background())
	rel, err := release.New(release.Config{
		DB:         s.cfg.DB,
		Source:     release.RollupSource{DB: s.cfg.DB, WithHistograms: true, MixInterval: mix, Grace: 2 * mix, IncludeUnverified: s.cfg.ReleaseUnverified},
		Noise:      pool.Laplace,
		Registerer: s.cfg.Registerer,
		Now:        s.cfg.Now,
		Logger:     s.cfg.Logger,
	})
	if err != nil {
		stop()
		return err
	}
	s.releases, s.stopPool = rel, stop
	go func() {
		if err := pool.Run(ctx); err != nil {
			s.log.Error("noise pool stopped", "error", err.Error())
		}
	}()
	return nil
}

// Close stops the noise pool's filler. Aggregate queries in dp mode fail
// after it.
func (s *Server) Close() {
	if s.stopPool != nil {
		s.stopPool()
	}
}

// RunReleases draws the final release of every settled bucket of every
// dp-mode schema, each minute, until ctx ends (one replica at a time: the
// ledger's row locks keep two from releasing a bucket twice, but the
// work is wasted).
func (s *Server) RunReleases(ctx context.Context) {
	_ = s.releases.Run(ctx, s.registeredPlans)
}

// registeredPlans compiles every registered schema version's plan.
func (s *Server) registeredPlans(ctx context.Context) ([]release.Registered, error) {
	var out []release.Registered
	var errs []error
	name, version := "", 0
	for {
		page, err := s.cfg.DB.ListSchemasAfter(ctx, name, version, 100)
		if err != nil {
			return out, err
		}
		for _, rec := range page {
			p, err := s.planOf(rec)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, release.Registered{Plan: p, Since: rec.CreatedAt})
		}
		if len(page) < 100 {
			return out, errors.Join(errs...)
		}
		name, version = page[len(page)-1].Name, page[len(page)-1].Version
	}
}

// planOf compiles a stored schema's release plan.
func (s *Server) planOf(rec storage.SchemaRecord) (*release.Plan, error) {
	sch, err := schema.Compile(rec.Document)
	if err != nil {
		return nil, err
	}
	return release.NewPlan(sch, s.releases.Histograms())
}
