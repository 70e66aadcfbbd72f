package sdk

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// resultEntry is one element of the ingest API's "results" array.
type resultEntry struct {
	index                 int
	status, reason, field string
}

// parseResults maps the ingest API's answer,
// {"results":[{"index":0,"status":"accepted"},…]}, onto evs. The index is
// omitted when zero (protojson leaves out zero values), and may arrive as a
// string (protojson's form for 64-bit integers). Events without a result are
// reported dropped with ReasonNoResult.
func parseResults(body []byte, evs []event) ([]Result, error) {
	var rb resultBufs
	return rb.parse(body, evs)
}

// resultBufs are parse's buffers, which the sender reuses from batch to
// batch: the results parse returns are valid until its next call.
type resultBufs struct {
	entries []resultEntry
	results []Result
	seen    []bool
}

func (rb *resultBufs) parse(body []byte, evs []event) ([]Result, error) {
	entries, ok := scanResults(rb.entries[:0], body)
	if !ok {
		var err error
		if entries, err = decodeResults(body); err != nil {
			return nil, err
		}
	} else {
		rb.entries = entries
	}
	results := slices.Grow(rb.results[:0], len(evs))[:len(evs)]
	for i, e := range evs {
		results[i] = Result{Seq: e.seq, Schema: e.schema, Version: e.version, Status: StatusDropped, Reason: ReasonNoResult}
	}
	rb.results = results
	seen := slices.Grow(rb.seen[:0], len(evs))[:len(evs)]
	clear(seen)
	rb.seen = seen
	for _, r := range entries {
		i := r.index
		if i < 0 || i >= len(evs) || seen[i] {
			continue
		}
		seen[i] = true
		res := &results[i]
		switch normalizeStatus(r.status) {
		case StatusAccepted:
			res.Status, res.Reason = StatusAccepted, ""
		case StatusDuplicate:
			res.Status, res.Reason = StatusDuplicate, ""
		case StatusRejected:
			res.Status, res.Reason, res.Field = StatusRejected, r.reason, r.field
		}
	}
	return results, nil
}

// normalizeStatus accepts "accepted" as well as enum-style spellings such
// as "STATUS_ACCEPTED".
func normalizeStatus(s string) Status {
	switch s {
	case "accepted", "rejected", "duplicate":
		return Status(s)
	}
	s = strings.ToLower(s)
	if i := strings.LastIndex(s, "status_"); i >= 0 {
		s = s[i+len("status_"):]
	}
	return Status(s)
}

// decodeResults is the general decoder, for anything scanResults declines.
func decodeResults(body []byte) ([]resultEntry, error) {
	var doc struct {
		Results []struct {
			Index  json.RawMessage `json:"index"`
			Status string          `json:"status"`
			Reason string          `json:"reason"`
			Field  string          `json:"field"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("veil: malformed results: %w", err)
	}
	entries := make([]resultEntry, len(doc.Results))
	for i, r := range doc.Results {
		entries[i] = resultEntry{status: r.Status, reason: r.Reason, field: r.Field}
		if len(r.Index) > 0 && string(r.Index) != "null" {
			n, err := strconv.Atoi(strings.Trim(string(r.Index), `"`))
			if err != nil {
				return nil, fmt.Errorf("veil: malformed result index %s", r.Index)
			}
			entries[i].index = n
		}
	}
	return entries, nil
}

// scanResults appends to entries. It is a fast path for the common shape of the answer: an object
// whose only member is "results", an array of flat objects whose values are
// integers or strings without escapes. It is on the SDK's per-event path,
// where encoding/json costs more than encapsulation. It returns false for
// anything else, and decodeResults then decides; so it never has to reject
// valid JSON correctly, only to never accept what decodeResults would read
// differently.
func scanResults(entries []resultEntry, b []byte) ([]resultEntry, bool) {
	s := resultScanner{b: b}
	if !s.lit('{') || s.str() != "results" || !s.lit(':') || !s.lit('[') {
		return nil, false
	}
	if s.peek(']') {
		s.i++
	} else {
		for {
			var e resultEntry
			if !s.lit('{') {
				return nil, false
			}
			for first := true; !s.peek('}'); first = false {
				if !first && !s.lit(',') {
					return nil, false
				}
				key := s.str()
				if !s.ok || !s.lit(':') {
					return nil, false
				}
				switch key {
				case "index":
					if s.peek('"') {
						v := s.str()
						n, err := strconv.Atoi(v)
						if err != nil {
							return nil, false
						}
						e.index = n
					} else {
						e.index = s.int()
					}
				case "status":
					e.status = s.str()
				case "reason":
					e.reason = s.str()
				case "field":
					e.field = s.str()
				case "pointer":
					s.str()
				default:
					return nil, false
				}
				if !s.ok {
					return nil, false
				}
			}
			s.i++ // '}'
			entries = append(entries, e)
			if s.peek(']') {
				s.i++
				break
			}
			if !s.lit(',') {
				return nil, false
			}
		}
	}
	if !s.lit('}') {
		return nil, false
	}
	s.space()
	return entries, s.ok && s.i == len(b)
}

type resultScanner struct {
	b  []byte
	i  int
	ok bool
}

func (s *resultScanner) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\n' || s.b[s.i] == '\r' || s.b[s.i] == '\t') {
		s.i++
	}
}

func (s *resultScanner) peek(c byte) bool {
	s.space()
	return s.i < len(s.b) && s.b[s.i] == c
}

func (s *resultScanner) lit(c byte) bool {
	if !s.peek(c) {
		return false
	}
	s.i++
	s.ok = true
	return true
}

// str reads a string without escapes or control characters.
func (s *resultScanner) str() string {
	s.ok = false
	if !s.peek('"') {
		return ""
	}
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i, s.ok = j+1, true
			switch v := s.b[start:j]; string(v) {
			// The common values, without an allocation each.
			case "accepted":
				return "accepted"
			case "duplicate":
				return "duplicate"
			case "rejected":
				return "rejected"
			case "status":
				return "status"
			case "index":
				return "index"
			default:
				return string(v)
			}
		case c == '\\' || c < 0x20 || c >= 0x80:
			return ""
		}
	}
	return ""
}

// int reads a small non-negative integer.
func (s *resultScanner) int() int {
	s.ok = false
	s.space()
	n, j := 0, s.i
	for ; j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9' && j-s.i < 9; j++ {
		n = n*10 + int(s.b[j]-'0')
	}
	if j == s.i || (j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9') || (s.b[s.i] == '0' && j-s.i > 1) {
		return 0
	}
	s.i, s.ok = j, true
	return n
}
