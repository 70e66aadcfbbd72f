package admin

import (
	"context"
	"time"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

func (s *Server) aggregates(ctx context.Context, q aggregateQuery) (*veilv1.GetAggregatesResponse, error) {
	return nil, Errorf(KindUnavailable, "aggregates are not built yet")
}

func (s *Server) stats(ctx context.Context, from, to time.Time) (*veilv1.GetStatsResponse, error) {
	return &veilv1.GetStatsResponse{}, nil
}
