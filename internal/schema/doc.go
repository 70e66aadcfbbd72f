// Package schema is veil's event schema format and its identifier firewall.
//
// An event schema is a JSON Schema (draft 2020-12) document restricted to a
// flat object of scalar properties, with veil's annotations:
//
//	{
//	  "$schema": "https://json-schema.org/draft/2020-12/schema",
//	  "x-veil": {"name": "app.launch", "version": 1,
//	             "granularity": "hour", "retention_days": 30},
//	  "type": "object",
//	  "additionalProperties": false,
//	  "required": ["os"],
//	  "properties": {
//	    "os":            {"enum": ["android", "ios"], "x-veil-role": "dimension"},
//	    "cold_start_ms": {"type": "integer", "minimum": 0, "maximum": 600000,
//	                      "x-veil-role": "measure"}
//	  }
//	}
//
// x-veil gives the schema's name (a lowercase dotted identifier), its
// version (an integer ≥ 1; versions are immutable), the time granularity its
// records are bucketed to ("hour", the default, or "day") and how many days
// raw rows are kept (default 30, at most MaxRetentionDays). Every property
// has an x-veil-role: a dimension (an enum, a boolean, a bounded integer, or
// a string with a pattern and maxLength ≤ 128) or a measure (an integer or
// number with both bounds).
//
// x-veil.release states how aggregates leave the server (release.go):
// "mode" ("dp", the default: differential-privacy noise under "epsilon"
// per bucket, default 1; or "exact": groups of at least k, subtractable)
// and "plan", the groupings released (default: the total and each
// dimension alone). A measure's "x-veil-clamp": [lo, hi] bounds what one
// event adds to a released sum (default: its validation bounds).
//
// Lint refuses, at registration, any document that could let identifying
// data in: property names that look identifying in any spelling (names.go:
// words, phrases and families), unbounded strings and numbers, string
// patterns that are not anchored or that accept a probe identifier
// (lint_pattern.go), nested objects, arrays, unknown roles, and enum
// values that are themselves identifiers or hold control characters.
// Compile lints the document, validates it with
// github.com/santhosh-tekuri/jsonschema/v6, and compiles it into a checker
// (checker.go): a field table with each property's type, exact decimal
// bounds, enum set, compiled pattern and role, which validates and splits
// an event in a few linear passes over its Fields without reflection,
// big.Rat or allocation. The library is the reference, at registration
// and in FuzzCheckerDifferential, never at run time; a document the
// compiler cannot handle is refused (RuleCompiler). Rejections carry
// veil's stable reason codes (see Reasons and docs/reason-codes.md).
//
// Detect is the value side of the firewall: it recognises emails, IP
// addresses, phone numbers, payment cards, IBANs, device and advertising
// identifiers, MAC addresses, IMEIs, US social security numbers, precise
// coordinates, JWTs, credentials and URLs that carry a query or userinfo,
// in their plain and their normalised spellings (percent-encoding, Unicode
// compatibility forms and digits, separators); DetectNumber recognises
// the identifiers that are written as numbers. The detectors are a table
// (detect.go), one file per family, each linear in its input. Schema.Check
// refuses undeclared fields and over-long values before any detector runs,
// then runs them over every declared value, including values the schema
// itself accepts, and refuses control characters. DetectLines is the
// detectors as a tool (veil detect).
//
// Registry caches compiled schemas in front of a Store (the database).
//
// Warning: a Rejection deliberately carries only a reason code, a field name
// and a JSON pointer — never the value. Callers must keep it that way: do not
// log, count or return the event's values alongside a rejection.
package schema
