package admin

import (
	"context"
	"github.com/veil-telemetry/veil/internal/problem"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// queryService implements veilv1.QueryServiceServer.
type queryService struct {
	veilv1.UnimplementedQueryServiceServer
	s *Server
}

// maxGroupBy bounds the dimensions of one aggregate query; maxHourSpan
// bounds the range of an hourly one (day buckets may span maxQuerySpan).
const (
	maxGroupBy  = 8
	maxHourSpan = 31 * 24 * time.Hour
)

// aggregateQuery is a validated GetAggregatesRequest.
type aggregateQuery struct {
	schema   string
	version  int
	groupBy  []string
	from, to time.Time
	bucket   string
}

// timeRange validates from/to: both optional (default: the last 24
// hours), from before to, at most maxQuerySpan apart.
func (s *Server) timeRange(from, to *timestamppb.Timestamp) (time.Time, time.Time, error) {
	end := s.cfg.Now().UTC()
	if to != nil {
		if err := to.CheckValid(); err != nil {
			return time.Time{}, time.Time{}, problem.Errorf(problem.Invalid, "to is not a valid timestamp")
		}
		end = to.AsTime()
	}
	start := end.Add(-defaultQuerySpan)
	if from != nil {
		if err := from.CheckValid(); err != nil {
			return time.Time{}, time.Time{}, problem.Errorf(problem.Invalid, "from is not a valid timestamp")
		}
		start = from.AsTime()
	}
	if !start.Before(end) {
		return time.Time{}, time.Time{}, problem.Errorf(problem.Invalid, "from must be before to")
	}
	if end.Sub(start) > maxQuerySpan {
		return time.Time{}, time.Time{}, problem.Errorf(problem.Invalid, "the time range may span at most 366 days")
	}
	return start, end, nil
}

func (s *Server) parseAggregates(req *veilv1.GetAggregatesRequest) (aggregateQuery, error) {
	q := aggregateQuery{schema: req.GetSchema(), version: int(req.GetVersion()), bucket: req.GetBucket()}
	if q.schema == "" || q.version <= 0 {
		return q, problem.Errorf(problem.Invalid, "schema and a positive version are required")
	}
	switch q.bucket {
	case "":
		q.bucket = "hour"
	case "hour", "day":
	default:
		return q, problem.Errorf(problem.Invalid, "bucket must be hour or day")
	}
	seen := map[string]bool{}
	if g := strings.TrimSpace(req.GetGroupBy()); g != "" {
		for _, d := range strings.Split(g, ",") {
			d = strings.TrimSpace(d)
			if d == "" {
				return q, problem.Errorf(problem.Invalid, "group_by has an empty dimension name")
			}
			if !seen[d] {
				seen[d] = true
				q.groupBy = append(q.groupBy, d)
			}
		}
	}
	if len(q.groupBy) > maxGroupBy {
		return q, problem.Errorf(problem.Invalid, "group_by may name at most %d dimensions", maxGroupBy)
	}
	var err error
	q.from, q.to, err = s.timeRange(req.GetFrom(), req.GetTo())
	if err == nil && q.bucket == "hour" && q.to.Sub(q.from) > maxHourSpan {
		// 366 days of hours is 8784 buckets per group: bound the work
		// and the answer, and point at day buckets.
		return q, problem.Errorf(problem.Invalid, "hour buckets may span at most %d days; use bucket=day for longer ranges", int(maxHourSpan/(24*time.Hour)))
	}
	return q, err
}

func (qs *queryService) GetAggregates(ctx context.Context, req *veilv1.GetAggregatesRequest) (*veilv1.GetAggregatesResponse, error) {
	q, err := qs.s.parseAggregates(req)
	if err != nil {
		return nil, err
	}
	return qs.s.aggregates(ctx, q)
}

func (qs *queryService) GetStats(ctx context.Context, req *veilv1.GetStatsRequest) (*veilv1.GetStatsResponse, error) {
	from, to, err := qs.s.timeRange(req.GetFrom(), req.GetTo())
	if err != nil {
		return nil, err
	}
	return qs.s.stats(ctx, from, to)
}
