package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/veil-telemetry/veil/internal/schema"
)

// maxEventLine bounds one line of the events file.
const maxEventLine = 1 << 20

func newValidateCmd() *cobra.Command {
	var schemaFile string
	var strict bool
	cmd := &cobra.Command{
		Use:   "validate --schema FILE [EVENTS.jsonl|-]",
		Short: "Check events against a schema offline, as ingest would",
		Long: `validate lints and compiles the schema, then runs every event of a JSON
Lines file (or standard input, "-" or no argument) through the same
validation and identifier detectors as ingest. Each line is an event:

  {"schema": "app.launch", "version": 1, "fields": {"os": "ios"}}

It prints one JSON line per event:

  {"index":0,"status":"accepted"}
  {"index":1,"status":"rejected","reason":"identifier_email","field":"note"}

A schema that registration would refuse (lint findings, see "veil schema
lint") is still used, so a team can try the detectors on its draft: the
findings are printed on standard error as warnings. With --strict they are
fatal, as at registration.

Exit status: 0 when every event is accepted, 1 when any is rejected, 2 on a
usage error, a schema that cannot be compiled at all, or (with --strict) a
schema lint refuses. Reason codes are listed in docs/reason-codes.md.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if schemaFile == "" {
				return &exitError{code: 2, err: errors.New("validate: --schema is required")}
			}
			doc, err := os.ReadFile(schemaFile)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("validate: %w", err)}
			}
			s, findings, err := schema.CompileLenient(doc)
			if err != nil {
				var le *schema.LintError
				if errors.As(err, &le) {
					printFindings(cmd.ErrOrStderr(), le.Findings)
					return &exitError{code: 2, err: fmt.Errorf("validate: schema %s cannot be compiled", schemaFile)}
				}
				return &exitError{code: 2, err: fmt.Errorf("validate: %w", err)}
			}
			refused := false
			for _, f := range findings {
				refused = refused || !f.Warning
			}
			if strict && refused {
				printFindings(cmd.ErrOrStderr(), findings)
				return &exitError{code: 2, err: fmt.Errorf("validate: schema %s refused", schemaFile)}
			}
			if len(findings) > 0 {
				printWarnings(cmd.ErrOrStderr(), findings)
				if refused {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: registration would refuse schema %s; checking events against it anyway (--strict to stop)\n", schemaFile)
				}
			}
			in := cmd.InOrStdin()
			if len(args) == 1 && args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("validate: %w", err)}
				}
				defer f.Close()
				in = f
			}
			rejected, err := validateEvents(s, in, cmd.OutOrStdout())
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("validate: %w", err)}
			}
			if rejected > 0 {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&schemaFile, "schema", "", "schema document (JSON Schema 2020-12 with x-veil)")
	cmd.Flags().BoolVar(&strict, "strict", false, "refuse a schema with lint findings, as registration does")
	return cmd
}

// validateEvent is one line of the events file.
type validateEvent struct {
	Schema  string         `json:"schema"`
	Version int            `json:"version"`
	Fields  map[string]any `json:"fields"`
}

// validateResult is one line of output. Field order is the wire order of
// DESIGN.md.
type validateResult struct {
	Index   int    `json:"index"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Field   string `json:"field,omitempty"`
	Pointer string `json:"pointer,omitempty"`
}

// validateEvents checks each non-blank line and writes a result line for it;
// it returns how many were rejected. Only I/O failures are errors.
func validateEvents(s *schema.Schema, in io.Reader, out io.Writer) (rejected int, err error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventLine)
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	index := 0
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		res := validateResult{Index: index, Status: "accepted"}
		if rej := checkEventLine(s, line); rej != nil {
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
			return rejected, fmt.Errorf("event %d: line longer than %d bytes", index, maxEventLine)
		}
		return rejected, err
	}
	return rejected, w.Flush()
}

func checkEventLine(s *schema.Schema, line []byte) *schema.Rejection {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var ev validateEvent
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
