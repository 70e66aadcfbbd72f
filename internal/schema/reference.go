package schema

import (
	"encoding/json"
	"math"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// referenceCheck is Check by the JSON Schema library plus the detectors:
// the reference FuzzCheckerDifferential holds the compiled checker to, and
// the check of a lenient document the compiler cannot handle. No
// registered schema reaches it.
func (s *Schema) referenceCheck(fields map[string]any) *Rejection {
	var hasUnknown bool
	var unknown, oversize, oversizeReason string
	for name, v := range fields {
		p, declared := s.props[name]
		if !declared {
			if !hasUnknown || name < unknown {
				hasUnknown, unknown = true, name
			}
			continue
		}
		if r := p.oversize(v); r != "" && (oversize == "" || name < oversize) {
			oversize, oversizeReason = name, r
		}
	}
	if hasUnknown {
		return rejection(ReasonFieldUnknown, unknown)
	}
	if oversize != "" {
		return rejection(oversizeReason, oversize)
	}
	var hitField, hitKind, controlField string
	for name, v := range fields {
		var kind string
		var hit bool
		switch v := v.(type) {
		case string:
			kind, hit = Detect(v)
			if !hit && hasControl(v) && (controlField == "" || name < controlField) {
				controlField = name
			}
		case float64, json.Number:
			if s.props[name].scanNumbers {
				kind, hit = DetectValue(v)
			}
		}
		if hit && (hitKind == "" || name < hitField) {
			hitField, hitKind = name, kind
		}
	}
	if hitKind != "" {
		return rejection("identifier_"+hitKind, hitField)
	}
	if controlField != "" {
		return rejection(ReasonFieldControlCharacter, controlField)
	}
	if fields == nil {
		fields = map[string]any{}
	}
	err := s.ref.Validate(fields)
	if err == nil {
		return nil
	}
	verr, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return &Rejection{Reason: ReasonSchemaInvalidEvent}
	}
	var best *Rejection
	bestRank := math.MaxInt
	walkLeaves(verr, func(e *jsonschema.ValidationError) {
		r, rank := classify(e)
		if rank < bestRank || rank == bestRank && r.Field < best.Field {
			best, bestRank = r, rank
		}
	})
	if best == nil {
		return &Rejection{Reason: ReasonSchemaInvalidEvent}
	}
	return best
}
