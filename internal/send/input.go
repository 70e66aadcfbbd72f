package send

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxLine bounds one input line, without its line ending. A longer line is
// skipped and its event reported dropped (too_large); the lines after it
// are still read.
const MaxLine = 1 << 20

// event is one event to send.
type event struct {
	Schema  string
	Version int
	Fields  map[string]any
}

// line is one line of input.
type line struct {
	n       int    // line number, from 1
	text    []byte // without the line ending; nil when tooLong
	tooLong bool   // longer than MaxLine
}

// lineReader splits its input into lines of at most max bytes. Unlike
// bufio.Scanner it does not stop at a longer line: it skips it and says so.
type lineReader struct {
	r   *bufio.Reader
	max int
	n   int
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// next returns the next line, or io.EOF after the last one. The line's text
// is its own copy.
func (lr *lineReader) next() (line, error) {
	var buf []byte
	tooLong, read := false, false
	for {
		chunk, err := lr.r.ReadSlice('\n')
		read = read || len(chunk) > 0
		if !tooLong {
			buf = append(buf, chunk...)
			if len(trimEOL(buf)) > lr.max {
				tooLong, buf = true, nil
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && !read:
			return line{}, io.EOF
		case err != nil && !errors.Is(err, io.EOF):
			return line{}, err
		}
		lr.n++
		if tooLong {
			return line{n: lr.n, tooLong: true}, nil
		}
		return line{n: lr.n, text: trimEOL(buf)}, nil
	}
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// exampleEvent shows the shape of an input line in error messages.
const exampleEvent = `{"schema": "app.launch", "version": 1, "fields": {...}}`

// parseEvent decodes one input line. Its errors say what is wrong in the
// words of the format, with the JSON parser's message when the line is not
// JSON at all; they never quote a field value.
func parseEvent(b []byte) (event, error) {
	var ev event
	if err := checkJSON(b); err != nil {
		return ev, err
	}
	if k := jsonKind(b); k != "an object" {
		return ev, fmt.Errorf("%s, not an event object like %s", k, exampleEvent)
	}
	// Struct fields match keys case-insensitively, as encoding/json
	// always has here; keys other than these three are ignored.
	var raw struct {
		Schema  json.RawMessage `json:"schema"`
		Version json.RawMessage `json:"version"`
		Fields  json.RawMessage `json:"fields"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return ev, fmt.Errorf("not an event object: %w", err)
	}
	switch {
	case raw.Schema == nil:
		return ev, errors.New(`"schema" is missing`)
	case jsonKind(raw.Schema) != "a string":
		return ev, fmt.Errorf(`"schema" must be a string, not %s`, jsonKind(raw.Schema))
	}
	if err := json.Unmarshal(raw.Schema, &ev.Schema); err != nil {
		return ev, fmt.Errorf(`"schema": %w`, err)
	}
	if ev.Schema == "" {
		return ev, errors.New(`"schema" is empty`)
	}
	v, err := parseVersion(raw.Version)
	if err != nil {
		return ev, err
	}
	ev.Version = v
	ev.Fields, err = parseFields(raw.Fields)
	if err != nil {
		return ev, fmt.Errorf(`"fields" %w`, err)
	}
	return ev, nil
}

func parseVersion(raw json.RawMessage) (int, error) {
	if raw == nil {
		return 0, errors.New(`"version" is missing`)
	}
	if k := jsonKind(raw); k != "a number" {
		return 0, fmt.Errorf(`"version" must be an integer, not %s`, k)
	}
	v, err := json.Number(raw).Int64()
	if err != nil {
		return 0, fmt.Errorf(`"version" must be an integer, not %s`, raw)
	}
	if v < 1 || v > 1<<31-1 {
		return 0, fmt.Errorf(`"version" must be at least 1, not %d`, v)
	}
	return int(v), nil
}

// parseFields decodes the fields of an event, keeping numbers exact. No
// fields (absent or null) is an empty object. Its errors complete the
// phrase `"fields" …`.
func parseFields(raw json.RawMessage) (map[string]any, error) {
	if raw == nil || jsonKind(raw) == "null" {
		return nil, nil
	}
	if k := jsonKind(raw); k != "an object" {
		return nil, fmt.Errorf("must be an object, not %s", k)
	}
	var fields map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&fields); err != nil {
		return nil, fmt.Errorf("is not a JSON object: %w", err)
	}
	return fields, nil
}

// checkJSON returns the parser's error, with its position, when b is not
// one JSON value.
func checkJSON(b []byte) error {
	if json.Valid(b) {
		return nil
	}
	var v any
	err := json.Unmarshal(b, &v)
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Errorf("not JSON (at byte %d): %w", se.Offset, err)
	}
	if err == nil {
		err = errors.New("invalid JSON")
	}
	return fmt.Errorf("not JSON: %w", err)
}

// jsonKind names the kind of a valid JSON value from its first byte.
func jsonKind(b []byte) string {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
