package schema

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxDetectLine bounds one line of DetectLines' input.
const MaxDetectLine = 1 << 20

// ErrDetectLineTooLong is DetectLines' error for a line over MaxDetectLine.
var ErrDetectLineTooLong = errors.New("schema: line too long")

// DetectResult is one line of DetectLines' output. Identifier is the
// detector kind (see Kinds), or nil when no detector matched; Error says
// why a line was not a value to check.
type DetectResult struct {
	Index      int     `json:"index"`
	Identifier *string `json:"identifier"`
	Error      string  `json:"error,omitempty"`
}

// DetectLines runs the identifier detectors over values an app team wants
// to check before it ships a schema (veil detect). It reads one JSON value
// per line from in — a string, checked by Detect, or a number, checked by
// DetectNumber as if no schema bounded it — skipping blank lines, and
// writes one DetectResult per value to out, in order:
//
//	{"index":0,"identifier":"email"}
//	{"index":1,"identifier":null}
//
// A line that is not one JSON string or number is answered with
// "identifier":null and an error, and counted in invalid. The output never
// repeats a value. Only reading and writing fail DetectLines: a line longer
// than MaxDetectLine fails it with ErrDetectLineTooLong.
func DetectLines(in io.Reader, out io.Writer) (invalid int, err error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), MaxDetectLine)
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	index := 0
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		res := DetectResult{Index: index}
		v, ok := decodeDetectLine(line)
		switch {
		case !ok:
			res.Error = "not a JSON string or number"
			invalid++
		default:
			if kind, hit := DetectValue(v); hit {
				res.Identifier = &kind
			}
		}
		if err := enc.Encode(res); err != nil {
			return invalid, err
		}
		index++
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return invalid, fmt.Errorf("%w: value %d is longer than %d bytes", ErrDetectLineTooLong, index, MaxDetectLine)
		}
		return invalid, err
	}
	return invalid, w.Flush()
}

// decodeDetectLine decodes a line holding exactly one JSON string or
// number.
func decodeDetectLine(line []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	switch v.(type) {
	case string, json.Number:
		return v, true
	}
	return nil, false
}
