// Package validate is veil validate: it checks a file of events against a
// schema offline, through the same validation and identifier detectors as
// ingest, and writes one JSON result line per event.
package validate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/veil-telemetry/veil/internal/schema"
)

// MaxEventLine bounds one line of the events file.
const MaxEventLine = 1 << 20

// LineTooLongError is Lines' error for a line over MaxEventLine.
type LineTooLongError struct {
	Index int // of the event, counting non-blank lines from 0
}

func (e *LineTooLongError) Error() string {
	return fmt.Sprintf("event %d: line longer than %d bytes", e.Index, MaxEventLine)
}

// Options are veil validate's inputs.
type Options struct {
	// SchemaFile is the schema document (required).
	SchemaFile string
	// Strict refuses a schema with lint findings, as registration does.
	Strict bool
	// EventsFile is the JSON Lines file of events; "" or "-" reads Stdin.
	EventsFile string

	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Run compiles the schema and checks every event, writing results to
// Stdout and lint findings to Stderr. It returns how many events were
// rejected; an error means no verdict at all (a usage error, a schema that
// cannot be compiled, or with Strict one lint refuses, an I/O failure), and
// its message starts "validate: ".
func Run(o Options) (rejected int, err error) {
	if o.SchemaFile == "" {
		return 0, errors.New("validate: --schema is required")
	}
	doc, err := os.ReadFile(o.SchemaFile)
	if err != nil {
		return 0, fmt.Errorf("validate: %w", err)
	}
	s, findings, err := schema.CompileLenient(doc)
	if err != nil {
		var le *schema.LintError
		if errors.As(err, &le) {
			schema.WriteFindings(o.Stderr, le.Findings)
			return 0, fmt.Errorf("validate: schema %s cannot be compiled", o.SchemaFile)
		}
		return 0, fmt.Errorf("validate: %w", err)
	}
	refused := false
	for _, f := range findings {
		refused = refused || !f.Warning
	}
	if o.Strict && refused {
		schema.WriteFindings(o.Stderr, findings)
		return 0, fmt.Errorf("validate: schema %s refused", o.SchemaFile)
	}
	if len(findings) > 0 {
		schema.WriteWarnings(o.Stderr, findings)
		if refused {
			fmt.Fprintf(o.Stderr, "warning: registration would refuse schema %s; checking events against it anyway (--strict to stop)\n", o.SchemaFile)
		}
	}
	in := o.Stdin
	if o.EventsFile != "" && o.EventsFile != "-" {
		f, err := os.Open(o.EventsFile)
		if err != nil {
			return 0, fmt.Errorf("validate: %w", err)
		}
		defer f.Close()
		in = f
	}
	rejected, err = Lines(s, in, o.Stdout)
	if err != nil {
		return rejected, fmt.Errorf("validate: %w", err)
	}
	return rejected, nil
}

// event is one line of the events file.
type event struct {
	Schema  string         `json:"schema"`
	Version int            `json:"version"`
	Fields  map[string]any `json:"fields"`
}

// Result is one line of output. Field order is the wire order of
// DESIGN.md.
type Result struct {
	Index   int    `json:"index"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Field   string `json:"field,omitempty"`
	Pointer string `json:"pointer,omitempty"`
}

// Lines checks each non-blank line of in against s and writes a Result
// line for it to out; it returns how many were rejected. Only I/O failures
// are errors; a line over MaxEventLine fails it with a
// *LineTooLongError. The
// output never repeats a value.
func Lines(s *schema.Schema, in io.Reader, out io.Writer) (rejected int, err error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), MaxEventLine)
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	index := 0
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		res := Result{Index: index, Status: "accepted"}
		if rej := checkLine(s, line); rej != nil {
			res.Status, res.Reason, res.Field, res.Pointer = "rejected", rej.Reason, rej.Field, rej.Pointer
			rejected++
		}
		if err := enc.Encode(res); err != nil {
			return rejected, err
		}
		index++
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return rejected, &LineTooLongError{Index: index}
		}
		return rejected, err
	}
	return rejected, w.Flush()
}

func checkLine(s *schema.Schema, line []byte) *schema.Rejection {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var ev event
	if err := dec.Decode(&ev); err != nil || dec.More() {
		// Not an event object at all; the pointer is the whole event.
		return &schema.Rejection{Reason: schema.ReasonSchemaInvalidEvent}
	}
	if ev.Schema != s.Name || ev.Version != s.Version {
		return &schema.Rejection{Reason: schema.ReasonSchemaUnknown}
	}
	if ev.Fields == nil {
		return &schema.Rejection{Reason: schema.ReasonSchemaInvalidEvent, Pointer: "/fields"}
	}
	return s.Check(ev.Fields)
}
