package admin

import (
	"context"
	"errors"
	"github.com/veil-telemetry/veil/internal/problem"
	"math"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/veil-telemetry/veil/internal/release"
	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/storage"
	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// LabelExact marks every exact-mode answer: exact aggregates of groups of
// at least k can be subtracted from one another to expose a suppressed
// group (DESIGN.md, invariant 4).
const LabelExact = "exact — subtractable"

// aggregates answers q in the schema's release mode. Group-by names must
// be the schema's dimensions, so a typo is an error rather than one big
// group.
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
	if sch.Release().Mode == schema.ModeExact {
		return s.exactAggregates(ctx, q)
	}
	plan, err := release.NewPlan(sch, s.releases.Histograms())
	if err != nil {
		return nil, &problem.Error{Kind: problem.Internal, Err: err}
	}
	ans, err := s.releases.Answer(ctx, release.Registered{Plan: plan, Since: rec.CreatedAt}, release.Query{
		GroupBy: q.groupBy, From: q.from, To: q.to, Bucket: q.bucket,
	})
	if errors.Is(err, release.ErrNotInPlan) {
		return nil, problem.Errorf(problem.Invalid, "group_by: %s version %d releases only the groupings %s (x-veil.release.plan); group by one of them", q.schema, q.version, plan.Describe())
	}
	if err != nil {
		return nil, storageError(err)
	}
	out := &veilv1.GetAggregatesResponse{
		Mode: ans.Mode, Epsilon: ans.Epsilon, Plan: ans.Plan, Delta: ans.Delta,
		Label: "differentially private (ε = " + ans.Epsilon + " per bucket)",
	}
	for _, g := range ans.Groups {
		grp, err := structpb.NewStruct(groupValues(g.Values))
		if err != nil {
			return nil, &problem.Error{Kind: problem.Internal, Err: err}
		}
		pg := &veilv1.AggregateGroup{
			Bucket: timestamppb.New(g.Bucket), Group: grp, Count: g.Count,
			Provisional: g.Provisional, NoiseSd: roundSD(g.NoiseSD),
			Measures: make(map[string]*veilv1.MeasureStats, len(g.Measures)),
		}
		for name, m := range g.Measures {
			pg.Measures[name] = &veilv1.MeasureStats{Count: m.Count, Sum: m.Sum, Mean: m.Mean,
				P50: m.P50, P90: m.P90, P99: m.P99, SumNoiseSd: roundSD(m.SumNoiseSD)}
		}
		out.Groups = append(out.Groups, pg)
	}
	return out, nil
}

// roundSD keeps three significant digits of a noise standard deviation:
// it is a description, not a measurement.
func roundSD(v float64) float64 {
	if v == 0 {
		return 0
	}
	p := math.Pow(10, 2-math.Floor(math.Log10(v)))
	return math.Round(v*p) / p
}

// groupValues converts dimension values for structpb (int64 → float64).
func groupValues(vs map[string]any) map[string]any {
	out := make(map[string]any, len(vs))
	for k, v := range vs {
		if i, ok := v.(int64); ok {
			out[k] = float64(i)
			continue
		}
		out[k] = v
	}
	return out
}

// exactAggregates runs q on the rollups with the server's k: exact counts,
// sums and means, never minima or maxima, labelled subtractable.
func (s *Server) exactAggregates(ctx context.Context, q aggregateQuery) (*veilv1.GetAggregatesResponse, error) {
	res, err := s.cfg.DB.Aggregates(ctx, storage.AggregateQuery{
		Schema: q.schema, Version: q.version, GroupBy: q.groupBy,
		From: q.from, To: q.to, Bucket: q.bucket, K: s.cfg.K,
		IncludeUnverified: s.cfg.ReleaseUnverified,
	})
	if err != nil {
		return nil, storageError(err)
	}
	out := &veilv1.GetAggregatesResponse{SuppressedGroups: int32(res.SuppressedGroups), K: int32(s.cfg.K),
		Mode: schema.ModeExact, Label: LabelExact}
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
			st := &veilv1.MeasureStats{Count: m.Count, Sum: m.Sum}
			if m.Count > 0 {
				st.Mean = &m.Mean
			}
			if p := m.Percentiles; p != nil {
				st.P50, st.P90, st.P99 = &p.P50, &p.P90, &p.P99
			}
			pg.Measures[name] = st
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
