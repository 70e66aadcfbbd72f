package release

import (
	"encoding/json"
	"fmt"
	"html"
	"math"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/veil-telemetry/veil/internal/schema"
)

// ReportConfig is what the privacy report states about the server.
type ReportConfig struct {
	// K is the k of exact-mode releases (groups of at least k events).
	K int
	// MixerK and MixInterval describe the mixer: requests folded into the
	// rollups in groups of at least MixerK, at most every MixInterval.
	// Zero: rollups are written when each batch commits.
	MixerK      int
	MixInterval time.Duration
	// KeyRotation and KeyGrace are the key schedule; KEMs the key types.
	KeyRotation, KeyGrace time.Duration
	KEMs                  []string
	// Relays lists the relays the gateway accepts (nil: any).
	Relays []string
	// Histograms: the source keeps histograms (percentiles released).
	Histograms bool
}

// Report is the privacy report: what an app team publishes for its users
// and hands to a reviewer. Built from the registry and the configuration
// only, never from data.
type Report struct {
	Server  ReportServer   `json:"server"`
	Never   []string       `json:"never_stored"`
	Exempt  string         `json:"exempt"`
	Schemas []ReportSchema `json:"schemas"`
}

// ReportServer states the server's settings.
type ReportServer struct {
	ExactK       int      `json:"exact_mode_k"`
	Mixer        string   `json:"mixer"`
	KeyRotation  string   `json:"key_rotation"`
	KEMs         []string `json:"kems"`
	Relays       []string `json:"relays"`
	RelayPolicy  string   `json:"relay_policy"`
	Percentiles  bool     `json:"percentiles_released"`
	Mechanism    string   `json:"mechanism"`
	Persistence  string   `json:"persistence"`
	NoMinMax     string   `json:"no_min_max"`
	BudgetSplit  string   `json:"budget_split"`
	PartitionsBy string   `json:"partitions"`
}

// ReportSchema states one schema version.
type ReportSchema struct {
	Name          string        `json:"name"`
	Version       int           `json:"version"`
	Granularity   string        `json:"granularity"`
	RetentionDays int           `json:"retention_days"`
	Mode          string        `json:"mode"`
	Label         string        `json:"label"`
	Epsilon       string        `json:"epsilon_per_bucket,omitempty"`
	Delta         float64       `json:"delta_per_bucket,omitempty"`
	Unit          string        `json:"unit"`
	Tokens        string        `json:"tokens"`
	Plan          []string      `json:"plan"`
	Noise         []ReportNoise `json:"noise,omitempty"`
	Fields        []ReportField `json:"fields"`
}

// ReportNoise gives a release's count noise in plain numbers.
type ReportNoise struct {
	Release string  `json:"release"`
	Epsilon string  `json:"epsilon"`
	CountSD float64 `json:"count_sd"`
	// EventsFor10 is how many events a group needs for its count to be
	// within ±10% with 95% probability.
	EventsFor10 int64 `json:"events_for_10_percent"`
}

// ReportField states one property.
type ReportField struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Type     string `json:"type"`
	Allowed  string `json:"allowed"`
	Required bool   `json:"required"`
	Clamp    string `json:"release_clamp,omitempty"`
	Released string `json:"released"`
}

// BuildReport builds the report for the given schema versions.
func BuildReport(cfg ReportConfig, schemas []*schema.Schema) (*Report, error) {
	r := &Report{
		Never: []string{
			"Client IP addresses: the relay sees them and forwards only the encrypted request; the gateway never receives them.",
			"Client headers (User-Agent, Cookie, Authorization, X-Forwarded-For and the rest): the relay drops them; inside the encryption only an allow-list of headers is read, and none is stored.",
			"Exact times: an event is stored in the server's receive bucket (an hour or a day), never with the client's clock or its arrival time.",
			"Batch identifiers: a batch's idempotency key is kept apart from its events, as a keyed hash, only for the deduplication horizon.",
			"Rejected values: a refused event leaves only its reason code and field name, in no log and no table.",
		},
		Exempt: "Operational counts — events accepted and rejected per schema, version, hour and reason code, with no dimension or measure value — are operator telemetry, not releases, and stay exact (/v1/stats).",
	}
	s := &r.Server
	s.ExactK = cfg.K
	if cfg.MixerK > 0 {
		s.Mixer = fmt.Sprintf("Requests are folded into the rollups in shuffled groups of at least %d, at most every %s.", cfg.MixerK, cfg.MixInterval)
	} else {
		s.Mixer = "Rollups are written when each batch commits; there is no separate mixer."
	}
	s.KeyRotation = fmt.Sprintf("A new key every %s; the previous one stays active %s more.", days(cfg.KeyRotation), days(cfg.KeyGrace))
	s.KEMs = slices.Clone(cfg.KEMs)
	s.Relays = slices.Clone(cfg.Relays)
	if len(cfg.Relays) == 0 {
		s.RelayPolicy = "The gateway accepts encapsulated requests from any relay; clients choose a relay run by someone other than this server's operator."
	} else {
		s.RelayPolicy = "The gateway accepts encapsulated requests only from the relays listed."
	}
	s.Percentiles = cfg.Histograms
	s.Mechanism = "Noise is the discrete Laplace mechanism, sampled exactly (integers and fractions, no floating point) from the operating system's cryptographic random source, drawn ahead of time so an answer's timing does not depend on it."
	s.Persistence = "Every release is stored; a repeated query, a query over a shifted range or a restart reuses it and never draws new noise for a released cell, and a ledger records the ε each release spent."
	s.NoMinMax = "No minimum or maximum of any group is ever released: one event's value would show."
	s.BudgetSplit = fmt.Sprintf("Each bucket's ε is split between at most %d provisional releases of the open bucket (ε/6 each, so data sent a minute ago is visible, noisily) and the final release once the bucket has closed (the rest, at least ε/2); within a release, evenly over the plan's groupings and, in each, the count and each measure's sum and histogram.", MaxProvisional)
	s.PartitionsBy = "Dimensions with a fixed list of values (enum, boolean) are public: every combination is released, none withheld, negative noisy counts shown as 0. Dimensions matched by a pattern have no public list: a value's cell is released only when its noisy count passes a threshold, and the guarantee is then (ε, δ)."
	for _, sch := range schemas {
		rs, err := reportSchema(sch, cfg)
		if err != nil {
			return nil, err
		}
		r.Schemas = append(r.Schemas, rs)
	}
	return r, nil
}

func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		n := int(d / (24 * time.Hour))
		if n == 1 {
			return "1 day"
		}
		return fmt.Sprintf("%d days", n)
	}
	return d.String()
}

// tokenPolicy states a schema's Privacy Pass policy (x-veil.tokens) in
// plain words.
func tokenPolicy(sch *schema.Schema) string {
	switch sch.Tokens {
	case schema.TokensRequired:
		return "required — every batch spends one single-use Privacy Pass token, issued blindly, so the server learns only that some attested client sent it."
	case schema.TokensOptional:
		return "optional — batches with a Privacy Pass token are counted as verified; batches without one are kept apart as an unverified stream."
	}
	return "off — batches carry no Privacy Pass token."
}

func reportSchema(sch *schema.Schema, cfg ReportConfig) (ReportSchema, error) {
	p, err := NewPlan(sch, cfg.Histograms)
	if err != nil {
		return ReportSchema{}, err
	}
	rel := sch.Release()
	rs := ReportSchema{Name: sch.Name, Version: sch.Version, Granularity: sch.Granularity,
		RetentionDays: sch.RetentionDays, Mode: p.Mode, Unit: "one event", Tokens: tokenPolicy(sch)}
	for _, g := range p.Groupings {
		if len(g.Dims) == 0 {
			rs.Plan = append(rs.Plan, "total")
		} else {
			rs.Plan = append(rs.Plan, strings.Join(g.Dims, " × "))
		}
	}
	if p.Mode == schema.ModeExact {
		rs.Label = fmt.Sprintf("exact — subtractable: exact counts, sums, means and percentiles of groups of at least %d events; comparing two answers can expose a withheld group", cfg.K)
	} else {
		rs.Epsilon = rel.Epsilon
		rs.Delta = p.Delta
		rs.Label = fmt.Sprintf("differentially private, ε = %s per bucket", rel.Epsilon)
		if p.Delta > 0 {
			rs.Label += fmt.Sprintf(", δ = %g per bucket", p.Delta)
		}
		for _, c := range []struct {
			what string
			eps  *big.Rat
		}{
			{"provisional (each)", p.ProvisionalEpsilon()},
			{"final, after 3 provisional", new(big.Rat).Quo(p.Epsilon, big.NewRat(2, 1))},
			{"final, no provisional", p.Epsilon},
		} {
			sd := math.Sqrt(laplaceVariance(p.ScalesFor(c.eps).Count.RatString()))
			rs.Noise = append(rs.Noise, ReportNoise{Release: c.what, Epsilon: c.eps.RatString(),
				CountSD: math.Round(sd*10) / 10, EventsFor10: int64(math.Ceil(1.96 * sd / 0.1))})
		}
	}
	names := slices.Concat(sch.Dimensions, sch.Measures)
	slices.Sort(names)
	measures := map[string]Measure{}
	for _, m := range p.Measures {
		measures[m.Name] = m
	}
	for _, n := range names {
		prop, _ := sch.Property(n)
		f := ReportField{Name: n, Role: prop.Role, Type: cmpOrString(prop.Type, "enum"), Required: prop.Required}
		switch {
		case prop.Enum != nil:
			var vs []string
			for _, v := range prop.Enum {
				vs = append(vs, fmt.Sprint(v))
			}
			f.Allowed = strings.Join(vs, ", ")
		case prop.Type == "boolean":
			f.Allowed = "true, false"
		case prop.Pattern != "":
			f.Allowed = "pattern " + prop.Pattern
		default:
			f.Allowed = prop.Min + " to " + prop.Max
		}
		switch {
		case prop.Role == schema.RoleMeasure:
			m := measures[n]
			f.Clamp = "[" + m.Lo.RatString() + ", " + m.Hi.RatString() + "]"
			if m.ClampWidened {
				f.Clamp += " (x-veil-clamp needs histograms; the validation bounds apply)"
			}
			f.Released = "count, sum, mean"
			if cfg.Histograms {
				f.Released += ", p50/p90/p99"
			}
			f.Released += "; never minimum or maximum"
			if p.Mode != schema.ModeExact {
				i := slices.IndexFunc(p.Measures, func(x Measure) bool { return x.Name == n })
				sd := math.Sqrt(laplaceVariance(p.ScalesFor(p.Epsilon).Sums[i].RatString()))
				f.Released += fmt.Sprintf("; noise of a sum: sd %.3g in a final release", sd)
			}
		case p.Mode == schema.ModeExact:
			f.Released = "as a group of at least k events"
		case prop.PublicDomain():
			f.Released = "every value, none withheld"
		default:
			f.Released = "values whose noisy count passes the threshold"
		}
		rs.Fields = append(rs.Fields, f)
	}
	return rs, nil
}

func cmpOrString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// JSON renders the report as indented JSON.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Markdown renders the report for people.
func (r *Report) Markdown() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# Privacy report\n\n")
	w("Generated by veil from its schema registry and configuration, not from any data. It states what this deployment collects, how it releases aggregates, and what it never keeps.\n\n")
	w("## What veil never stores\n\n")
	for _, n := range r.Never {
		w("- %s\n", n)
	}
	w("\n## How aggregates are released\n\n")
	w("Aggregates leave the server only as releases. Unless a schema below says otherwise, a release is differentially private: it protects each single event — whether it was sent, and its values — at the stated ε per bucket. Every event falls in exactly one bucket, so buckets do not add up against each other.\n\n")
	s := r.Server
	for _, line := range []string{s.Mechanism, s.BudgetSplit, s.PartitionsBy, s.Persistence, s.NoMinMax, r.Exempt} {
		w("- %s\n", line)
	}
	if s.Percentiles {
		w("- Percentiles (p50, p90, p99) are computed from noisy histograms of at most %d public, log-spaced bins over each measure's release clamp.\n", MaxBins)
	} else {
		w("- Percentiles are not released: this server keeps no histograms.\n")
	}
	w("\n## Collection\n\n")
	w("- %s\n", s.Mixer)
	w("- Keys (%s): %s\n", strings.Join(s.KEMs, ", "), s.KeyRotation)
	w("- %s", s.RelayPolicy)
	if len(s.Relays) > 0 {
		w(" Relays: %s.", strings.Join(s.Relays, ", "))
	}
	w("\n- Exact mode, where a schema declares it: groups of at least k = %d events.\n", s.ExactK)
	w("\n## Schemas\n")
	for _, sc := range r.Schemas {
		w("\n### %s version %d\n\n", sc.Name, sc.Version)
		w("- Releases: %s; unit: %s.\n", sc.Label, sc.Unit)
		w("- Granularity: %s; kept %d days.\n", sc.Granularity, sc.RetentionDays)
		w("- Anti-abuse tokens: %s\n", sc.Tokens)
		w("- Released groupings: %s.\n", strings.Join(sc.Plan, "; "))
		for _, n := range sc.Noise {
			w("- Noise of a count, %s release (ε = %s): standard deviation %.1f; a group needs %d events for ±10%% at 95%%.\n", n.Release, n.Epsilon, n.CountSD, n.EventsFor10)
		}
		w("\n| field | role | type | allowed values | required | release clamp | released |\n|---|---|---|---|---|---|---|\n")
		for _, f := range sc.Fields {
			req := "no"
			if f.Required {
				req = "yes"
			}
			w("| %s | %s | %s | %s | %s | %s | %s |\n", f.Name, f.Role, f.Type, mdEscape(f.Allowed), req, cmpOrString(f.Clamp, "—"), f.Released)
		}
	}
	return b.String()
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "`", "\\`").Replace(s)
}

// HTML renders the report as a self-contained page; every string from a
// schema is escaped.
func (r *Report) HTML() string {
	var b strings.Builder
	e := html.EscapeString
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Privacy report</title></head><body>\n")
	w("<h1>Privacy report</h1>\n<p>Generated by veil from its schema registry and configuration, not from any data.</p>\n")
	w("<h2>What veil never stores</h2>\n<ul>\n")
	for _, n := range r.Never {
		w("<li>%s</li>\n", e(n))
	}
	s := r.Server
	w("</ul>\n<h2>How aggregates are released</h2>\n<ul>\n")
	for _, line := range []string{s.Mechanism, s.BudgetSplit, s.PartitionsBy, s.Persistence, s.NoMinMax, r.Exempt, s.Mixer,
		"Keys (" + strings.Join(s.KEMs, ", ") + "): " + s.KeyRotation, s.RelayPolicy + " " + strings.Join(s.Relays, ", ")} {
		w("<li>%s</li>\n", e(strings.TrimSpace(line)))
	}
	w("</ul>\n<h2>Schemas</h2>\n")
	for _, sc := range r.Schemas {
		w("<h3>%s version %d</h3>\n<ul>\n<li>Releases: %s; unit: %s.</li>\n<li>Granularity: %s; kept %d days.</li>\n<li>Anti-abuse tokens: %s</li>\n<li>Released groupings: %s.</li>\n",
			e(sc.Name), sc.Version, e(sc.Label), e(sc.Unit), e(sc.Granularity), sc.RetentionDays, e(sc.Tokens), e(strings.Join(sc.Plan, "; ")))
		for _, n := range sc.Noise {
			w("<li>Noise of a count, %s release (ε = %s): standard deviation %.1f; %d events for ±10%% at 95%%.</li>\n", e(n.Release), e(n.Epsilon), n.CountSD, n.EventsFor10)
		}
		w("</ul>\n<table>\n<tr><th>field</th><th>role</th><th>type</th><th>allowed values</th><th>required</th><th>release clamp</th><th>released</th></tr>\n")
		for _, f := range sc.Fields {
			w("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%t</td><td>%s</td><td>%s</td></tr>\n",
				e(f.Name), e(f.Role), e(f.Type), e(f.Allowed), f.Required, e(f.Clamp), e(f.Released))
		}
		w("</table>\n")
	}
	w("</body></html>\n")
	return b.String()
}
