package admin

import (
	"context"
	"errors"
	"github.com/veil-telemetry/veil/internal/problem"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/storage"
	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// aggregates runs q with the server's k. Group-by names must be the
// schema's dimensions, so a typo is an error rather than one big group.
func (s *Server) aggregates(ctx context.Context, q aggregateQuery) (*veilv1.GetAggregatesResponse, error) {
	rec, err := s.cfg.DB.GetSchema(ctx, q.schema, q.version)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, problem.Errorf(problem.NotFound, "no schema %s version %d", q.schema, q.version)
	}
	if err != nil {
		return nil, storageError(err)
	}
	sch, err := schema.Compile(rec.Document)
	if err != nil {
		return nil, &problem.Error{Kind: problem.Internal, Err: err}
	}
	for _, d := range q.groupBy {
		if !slices.Contains(sch.Dimensions, d) {
			return nil, problem.Errorf(problem.Invalid, "group_by: %q is not a dimension of %s version %d (dimensions: %v)", d, q.schema, q.version, sch.Dimensions)
		}
	}
	res, err := s.cfg.DB.Aggregates(ctx, storage.AggregateQuery{
		Schema: q.schema, Version: q.version, GroupBy: q.groupBy,
		From: q.from, To: q.to, Bucket: q.bucket, K: s.cfg.K,
	})
	if err != nil {
		return nil, storageError(err)
	}
	out := &veilv1.GetAggregatesResponse{SuppressedGroups: int32(res.SuppressedGroups), K: int32(s.cfg.K)}
	for _, g := range res.Groups {
		// Defence in depth: storage filters by k, and so does this.
		if g.Count < int64(s.cfg.K) {
			out.SuppressedGroups++
			continue
		}
		grp, err := structpb.NewStruct(g.Group)
		if err != nil {
			return nil, &problem.Error{Kind: problem.Internal, Err: err}
		}
		pg := &veilv1.AggregateGroup{
			Bucket: timestamppb.New(g.Bucket), Group: grp, Count: g.Count,
			Measures: make(map[string]*veilv1.MeasureStats, len(g.Measures)),
		}
		for name, m := range g.Measures {
			ms := &veilv1.MeasureStats{Count: m.Count, Sum: m.Sum, Min: m.Min, Max: m.Max, Mean: m.Mean}
			if p := m.Percentiles; p != nil {
				ms.P50, ms.P90, ms.P99 = &p.P50, &p.P90, &p.P99
			}
			pg.Measures[name] = ms
		}
		out.Groups = append(out.Groups, pg)
	}
	return out, nil
}

// stats counts outcomes; they are counts of events, not groups, so
// k-anonymity does not apply.
func (s *Server) stats(ctx context.Context, from, to time.Time) (*veilv1.GetStatsResponse, error) {
	rows, err := s.cfg.DB.Stats(ctx, from, to)
	if err != nil {
		return nil, storageError(err)
	}
	out := &veilv1.GetStatsResponse{}
	for _, r := range rows {
		out.Rows = append(out.Rows, &veilv1.StatRow{
			Schema: r.Schema, Version: int32(r.Version), Outcome: r.Outcome, Reason: r.Reason, Count: r.Count,
		})
		switch r.Outcome {
		case "accepted":
			out.Accepted += r.Count
		case "rejected":
			out.Rejected += r.Count
		}
	}
	return out, nil
}
