package admincli

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// AggregatesQuery is the `aggregates` command's flags.
type AggregatesQuery struct {
	Schema  string
	Version int
	// GroupBy names dimensions; none counts every event of a bucket in
	// one group.
	GroupBy []string
	// From and To are ParseTime forms; "" leaves the bound to the API
	// (to: now; from: 24 hours before to).
	From, To string
	// Bucket is "hour", "day" or "" (the API's default, hour).
	Bucket string
}

// timeRange parses --from and --to; "" is left unset.
func (c *CLI) timeRange(from, to string) (*timestamppb.Timestamp, *timestamppb.Timestamp, error) {
	now := c.cfg.Now()
	var out [2]*timestamppb.Timestamp
	for i, v := range [2]struct{ flag, val string }{{"--from", from}, {"--to", to}} {
		if v.val == "" {
			continue
		}
		t, err := ParseTime(v.val, now)
		if err != nil {
			return nil, nil, &UsageError{Msg: v.flag + ": " + err.Error()}
		}
		out[i] = timestamppb.New(t)
	}
	return out[0], out[1], nil
}

// Aggregates prints the aggregates of one schema version: one row per
// bucket, group and measure, then how many groups were withheld.
func (c *CLI) Aggregates(ctx context.Context, q AggregatesQuery) error {
	if q.Schema == "" || q.Version < 1 {
		return &UsageError{Msg: "give --schema and a --version of at least 1"}
	}
	from, to, err := c.timeRange(q.From, q.To)
	if err != nil {
		return err
	}
	req := &veilv1.GetAggregatesRequest{
		Schema: q.Schema, Version: int32(q.Version), GroupBy: strings.Join(q.GroupBy, ","),
		From: from, To: to, Bucket: q.Bucket,
	}
	cctx, cancel := c.call(ctx)
	defer cancel()
	resp, err := c.query.GetAggregates(cctx, req)
	if err != nil {
		return c.problem(err)
	}
	if c.cfg.JSON {
		return writeJSON(c.cfg.Out, false, resp)
	}
	// Dimension columns: the --group-by order, then any other the
	// server's groups name, sorted.
	dims := slices.Clone(q.GroupBy)
	for _, g := range resp.GetGroups() {
		for _, k := range slices.Sorted(maps.Keys(g.GetGroup().GetFields())) {
			if !slices.Contains(dims, k) {
				dims = append(dims, k)
			}
		}
	}
	header := append([]string{"BUCKET"}, dims...)
	header = append(header, "RELEASE", "EVENTS", "±", "MEASURE", "COUNT", "SUM", "MEAN", "P50", "P90", "P99")
	t := newTable(c.cfg.Out, header...)
	for _, g := range resp.GetGroups() {
		lead := []string{timeCell(g.GetBucket())}
		for _, d := range dims {
			lead = append(lead, valueCell(g.GetGroup().GetFields()[d]))
		}
		kind := "final"
		switch {
		case resp.GetMode() == "exact":
			kind = resp.GetLabel()
		case g.GetProvisional():
			kind = "provisional"
		}
		lead = append(lead, kind, strconv.FormatInt(g.GetCount(), 10), sdCell(g.GetNoiseSd()))
		names := slices.Sorted(maps.Keys(g.GetMeasures()))
		if len(names) == 0 {
			t.row(lead...)
			continue
		}
		for _, n := range names {
			m := g.GetMeasures()[n]
			t.row(append(slices.Clone(lead), n, strconv.FormatInt(m.GetCount(), 10),
				numCell(m.GetSum()), optCell(m.Mean), optCell(m.P50), optCell(m.P90), optCell(m.P99))...)
		}
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(resp.GetGroups()) == 0 {
		fmt.Fprintln(c.cfg.Out, "no group in this range")
	}
	switch resp.GetMode() {
	case "exact":
		fmt.Fprintf(c.cfg.Out, "%s: exact aggregates of groups of at least k=%d events; comparing answers can expose a withheld group\n", resp.GetLabel(), resp.GetK())
	case "":
	default:
		fmt.Fprintf(c.cfg.Out, "%s; released groupings %s; ± is the count's noise standard deviation\n", resp.GetLabel(), resp.GetPlan())
	}
	if n := resp.GetSuppressedGroups(); n > 0 {
		fmt.Fprintf(c.cfg.Out, "%d %s withheld: fewer than k=%d events\n", n, plural(int(n), "group", "groups"), resp.GetK())
	}
	return nil
}

// optCell prints an optional number, "-" when absent.
func optCell(v *float64) string {
	if v == nil {
		return "-"
	}
	return numCell(*v)
}

// sdCell prints a noise standard deviation, "-" for none (exact mode).
func sdCell(v float64) string {
	if v == 0 {
		return "-"
	}
	return numCell(v)
}

// Stats prints accepted and rejected counts by schema version and reason.
func (c *CLI) Stats(ctx context.Context, fromArg, toArg string) error {
	from, to, err := c.timeRange(fromArg, toArg)
	if err != nil {
		return err
	}
	cctx, cancel := c.call(ctx)
	defer cancel()
	resp, err := c.query.GetStats(cctx, &veilv1.GetStatsRequest{From: from, To: to})
	if err != nil {
		return c.problem(err)
	}
	if c.cfg.JSON {
		return writeJSON(c.cfg.Out, false, resp)
	}
	t := newTable(c.cfg.Out, "SCHEMA", "VERSION", "OUTCOME", "REASON", "EVENTS")
	unregistered := false
	for _, r := range resp.GetRows() {
		name, version := r.GetSchema(), strconv.Itoa(int(r.GetVersion()))
		if name == "" {
			// Ingest counts events naming a schema it does not have
			// under no name: the name a client sent may itself be a
			// value.
			name, version, unregistered = "(unregistered)", "", true
		}
		t.row(name, version, r.GetOutcome(), r.GetReason(), strconv.FormatInt(r.GetCount(), 10))
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintf(c.cfg.Out, "accepted %d, rejected %d\n", resp.GetAccepted(), resp.GetRejected())
	if unregistered {
		fmt.Fprintln(c.cfg.Out, "(unregistered): events naming a schema name and version that is not registered; the name they sent is not kept, as it may itself be a value")
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
