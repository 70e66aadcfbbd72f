package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/veil-telemetry/veil/internal/bench"
)

func newBenchCmd() *cobra.Command {
	o := bench.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "bench --mode gateway|relay|full|durable|forward|ingest (--spawn | target URLs)",
		Short: "Bounded loopback load generator for the gateway, relay, full path and ingest",
		Long: `Send a bounded load to veil on this machine and report requests/s, events/s,
latency percentiles, errors by kind, and the CPU time and peak RSS of every
process it started (from /proc) and of itself.

Modes:
  gateway  OHTTP straight to a gateway whose inner handler is a no-op
           (veil serve --bench-noop-inner, loopback listeners only)
  relay    the same through veil relay
  full     client → relay → gateway → ingest → PostgreSQL, every event checked
           accepted, against a six-field schema registered over the admin API
  durable  OHTTP straight to veil serve's gateway with its real ingest: every
           event checked accepted and committed to PostgreSQL, no relay
  forward  the forwarding baseline: a standalone gateway built from veil's
           own codecs, in this process, that decapsulates each request and
           forwards it over HTTP to a no-op loopback target (what a
           forwarding gateway does); not part of veil serve
  ingest   POST /v1/events JSON to the ingest API without OHTTP, run in this
           process (it is never served in the clear by veil serve)

With --spawn, bench starts what the mode needs from its own binary on free
127.0.0.1 ports with a temporary data directory, and stops it at the end.
Without it, give --gateway-url (gateway, durable), --relay-url (relay, full)
and, for full and durable, --admin-url and --admin-token-file. Targets must be loopback addresses.

The run stops after --requests requests or --duration, whichever comes
first. Every request is freshly encoded and encapsulated; that client-side
work is done before the timed exchange; with --preseal N it is done for N
requests before the run starts, its CPU reported apart, and the run ends
when they are used up.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("bench: %w", err)}
			}
			rep, err := bench.Run(cmd.Context(), o, cmd.ErrOrStderr())
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("bench: %w", err)}
			}
			out := cmd.OutOrStdout()
			if o.JSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return rep.WriteTable(out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Mode, "mode", o.Mode, "gateway, relay, full, durable, forward or ingest")
	f.StringArrayVar(&o.ServeArgs, "serve-arg", nil, "with --spawn: an extra flag for veil serve, such as --serve-arg=--max-inflight=32 (repeatable)")
	f.Int64Var(&o.Preseal, "preseal", o.Preseal, "encapsulate this many requests before the timed run (0: each just before it is sent)")
	f.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "requests in flight")
	f.Int64Var(&o.Requests, "requests", o.Requests, "stop after this many requests (0: only --duration bounds the run)")
	f.DurationVar(&o.Duration, "duration", o.Duration, "stop starting requests after this long (at most 30m)")
	f.Float64Var(&o.Rate, "rate", o.Rate, "target requests per second, open loop (0: as fast as the workers go)")
	f.IntVar(&o.Events, "events-per-request", o.Events, "events in each request")
	f.StringVar(&o.Suite, "suite", o.Suite, "gateway key to encapsulate to: x25519 or xwing")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "bound on one request")
	f.Int64Var(&o.Warmup, "warmup", o.Warmup, "requests sent before measuring (connections, caches)")
	f.BoolVar(&o.JSON, "json", o.JSON, "print the report as JSON")
	f.BoolVar(&o.Spawn, "spawn", o.Spawn, "start veil serve (and veil relay) for the run and stop them after")
	f.StringVar(&o.GatewayURL, "gateway-url", "", "gateway POST URL, e.g. http://127.0.0.1:8080/gateway (gateway mode without --spawn)")
	f.StringVar(&o.RelayURL, "relay-url", "", "relay POST URL (relay and full modes without --spawn)")
	f.StringVar(&o.AdminURL, "admin-url", "", "admin listener URL, to register the benchmark schema (full mode without --spawn)")
	f.StringVar(&o.AdminTokenFile, "admin-token-file", "", "file whose first line is an admin bearer token (full mode without --spawn)")
	f.StringVar(&o.DatabaseURL, "database-url", "", "ingest mode: PostgreSQL URL (empty: a temporary managed PostgreSQL)")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write this process's CPU profile during the load to this file (ingest mode: the pipeline runs here)")
	f.StringVar(&o.ServeProfile, "serve-cpuprofile", "", "with --spawn: start veil serve with --admin-pprof and write its CPU profile over the load (at most 55 s of it) to this file")
	return cmd
}
