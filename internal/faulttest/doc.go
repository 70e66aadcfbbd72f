// Package faulttest turns veil's reliability contract and privacy
// invariants (DESIGN.md) into tests that catch regressions: malformed and
// oversized input at every decoder and limit, replay, slow clients, a
// kill -9 of `veil serve` under load, a PostgreSQL outage, overload,
// a leak scan for planted identifiers across logs, metrics and every
// table, party separation between relay and gateway, and admin security.
//
// The package has no API; everything lives in its tests. Short versions
// run in CI (`go test ./faulttest/`); VEIL_LONG=1 (scripts/faults) runs
// the full-length scenarios that docs/reliability.md reports.
package faulttest
